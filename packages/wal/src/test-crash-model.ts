import type { Wal } from "./wal.js";

/** Same function as in fixtures/crash-writer.mjs: content is a pure function of (index, term). */
export function crashPayload(index: number, term: number): Buffer {
  const size = index % 97 === 0 ? 9000 + (index % 5000) : 16 + ((index * 7919 + term) % 1500);
  const b = Buffer.alloc(size);
  for (let i = 16; i < size; i++) b[i] = (index * 31 + term * 17 + i) & 0xff;
  b.writeDoubleLE(index, 0);
  b.writeDoubleLE(term, 8);
  return b;
}

/** What the parent knows from the writer's stdout: every acknowledged (index, term). */
export class AckModel {
  readonly acked = new Map<number, number>();
  pendingTrunc: number | null = null;
  ackCount = 0;

  feed(output: string): void {
    const lines = output.split("\n");
    lines.pop(); // an unterminated last line was cut by the kill
    for (const line of lines) {
      const [what, a, b] = line.split(" ");
      const x = Number(a);
      if (what === "ack") {
        this.acked.set(x, Number(b));
        this.ackCount++;
      } else if (what === "trunc-begin") {
        this.pendingTrunc = x;
      } else if (what === "trunc-done") {
        for (const i of this.acked.keys()) if (i > x) this.acked.delete(i);
        this.pendingTrunc = null;
      }
    }
  }

  /**
   * Checks a reopened WAL: every acknowledged entry still in the log range is present with its
   * term and exact content, every entry in the log is intact, terms never decrease.
   * Returns a list of problems (empty when all is well) and settles an interrupted truncation.
   */
  async check(wal: Wal): Promise<string[]> {
    const problems: string[] = [];
    const first = wal.firstIndex();
    const last = wal.lastIndex();
    if (first > wal.checkpoint().index + 1) problems.push(`first index ${first} is beyond checkpoint ${wal.checkpoint().index} + 1`);
    let prevTerm = 0;
    const present = new Map<number, number>();
    for (let lo = first; lo <= last; lo += 500) {
      for (const e of await wal.entries(lo, Math.min(last + 1, lo + 500))) {
        if (!Buffer.from(e.payload).equals(crashPayload(e.index, e.term))) problems.push(`entry ${e.index} (term ${e.term}) has wrong content`);
        if (e.term < prevTerm) problems.push(`term goes down at ${e.index}`);
        prevTerm = e.term;
        present.set(e.index, e.term);
      }
    }
    for (const [i, t] of this.acked) {
      if (i < first) {
        this.acked.delete(i);
        continue;
      }
      const mayBeGone = this.pendingTrunc !== null && i > this.pendingTrunc;
      if (present.get(i) === t) continue;
      if (mayBeGone && !present.has(i)) {
        this.acked.delete(i);
        continue;
      }
      problems.push(`acknowledged entry ${i} (term ${t}) is ${present.has(i) ? `term ${present.get(i)}` : "missing"} (log ${first}..${last})`);
    }
    this.pendingTrunc = null;
    return problems;
  }
}
