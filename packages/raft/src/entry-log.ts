import { RaftError } from "./errors.js";
import type { Entry } from "./types.js";

/**
 * A log held in memory: the entries after a compaction point, whose index and term are still
 * known. The read side of MemoryStorage, and of a host's store that keeps its recent log in
 * memory next to a file (the server's WAL-backed ReplicaLog).
 */
export class EntryLog {
  /** ents[0] stands for the compaction point: only its index and term are meaningful. */
  private ents: Entry[];

  constructor(base: { index: number; term: number } = { index: 0, term: 0 }, entries: readonly Entry[] = []) {
    this.ents = [placeholder(base.index, base.term)];
    for (const e of entries) this.ents.push(e);
  }

  /** Index of the compaction point. */
  get offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(i: number): number {
    if (i < this.offset) throw new RaftError("LNC_RAFT_COMPACTED", `index ${i} is compacted (first ${this.firstIndex()})`);
    if (i > this.lastIndex()) throw new RaftError("LNC_RAFT_UNAVAILABLE", `index ${i} is past the last index ${this.lastIndex()}`);
    return this.ents[i - this.offset]!.term;
  }

  entries(lo: number, hi: number): Entry[] {
    if (lo <= this.offset) throw new RaftError("LNC_RAFT_COMPACTED", `index ${lo} is compacted (first ${this.firstIndex()})`);
    if (hi > this.lastIndex() + 1) throw new RaftError("LNC_RAFT_UNAVAILABLE", `entries up to ${hi - 1} requested, last is ${this.lastIndex()}`);
    return this.ents.slice(lo - this.offset, hi - this.offset);
  }

  /** The stored entries from `from` on (what an append there would replace). */
  suffixFrom(from: number): Entry[] {
    if (from > this.lastIndex()) return [];
    return this.ents.slice(Math.max(1, from - this.offset));
  }

  /**
   * Appends, dropping any stored suffix from the first new index on. Entries at or below the
   * compaction point are committed and identical: they are skipped. Returns what was stored.
   */
  append(entries: readonly Entry[]): Entry[] {
    const first = entries[0];
    if (first === undefined) return [];
    if (first.index > this.lastIndex() + 1) {
      throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    }
    const fresh = entries.filter((e) => e.index > this.offset);
    const head = fresh[0];
    if (head === undefined) return [];
    this.ents.length = head.index - this.offset;
    // A loop, not push(...): a batch can hold more entries than a call may take arguments.
    for (const e of fresh) this.ents.push(e);
    return fresh;
  }

  /** Drops the entries up to and including `index`, which becomes the compaction point. */
  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.lastIndex()) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `compact to ${index} beyond the last index ${this.lastIndex()}`);
    const rest = this.ents.slice(index - this.offset + 1);
    rest.unshift(placeholder(index, this.term(index)));
    this.ents = rest;
  }

  /** Empties the log: `index`/`term` become the compaction point (a snapshot was installed). */
  reset(index: number, term: number): void {
    this.ents = [placeholder(index, term)];
  }
}

function placeholder(index: number, term: number): Entry {
  return { index, term, type: "noop", data: new Uint8Array(0) };
}
