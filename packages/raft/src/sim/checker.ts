import type { Entry, NodeId } from "../types.js";

export class SafetyViolation extends Error {
  readonly code = "LNC_RAFT_SIM_VIOLATION";
  constructor(message: string) {
    super(message);
    this.name = "SafetyViolation";
  }
}

export function entryKey(e: Pick<Entry, "term" | "type" | "data">): string {
  return `${e.term}/${e.type}/${Buffer.from(e.data).toString("latin1")}`;
}

/**
 * Global truth the simulator checks after every step:
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair always names the same entry with the same predecessor term;
 * - leader completeness: a newly elected leader holds every entry applied anywhere so far;
 * - state machine safety: no two nodes apply different entries at one index.
 */
export class SafetyChecker {
  private leaders = new Map<number, NodeId>();
  private logPairs = new Map<string, { key: string; prevTerm: number | undefined }>();
  /** index -> entry key, for every index applied by any node. */
  readonly applied = new Map<number, string>();
  private maxApplied = 0;

  leaderElected(term: number, id: NodeId, termAt: (i: number) => number | undefined, firstIndex: number, lastIndex: number): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) throw new SafetyViolation(`two leaders in term ${term}: ${prev} and ${id}`);
    if (prev !== undefined) return;
    this.leaders.set(term, id);
    if (lastIndex < this.maxApplied) {
      throw new SafetyViolation(`leader ${id} of term ${term} ends at ${lastIndex}, but index ${this.maxApplied} was committed`);
    }
    for (let i = firstIndex; i <= this.maxApplied; i++) {
      const want = this.applied.get(i);
      const t = termAt(i);
      if (want !== undefined && t !== undefined && !want.startsWith(`${t}/`)) {
        throw new SafetyViolation(`leader ${id} of term ${term} has term ${t} at committed index ${i} (${want})`);
      }
    }
  }

  logAppended(node: NodeId, e: Entry, prevTerm: number | undefined): void {
    const pair = `${e.index}:${e.term}`;
    const key = entryKey(e);
    const seen = this.logPairs.get(pair);
    if (seen === undefined) {
      this.logPairs.set(pair, { key, prevTerm });
      return;
    }
    if (seen.key !== key) throw new SafetyViolation(`log matching: node ${node} has ${key} at ${pair}, another node ${seen.key}`);
    if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
      throw new SafetyViolation(`log matching: node ${node} has term ${prevTerm} before ${pair}, another node ${seen.prevTerm}`);
    }
    if (seen.prevTerm === undefined) seen.prevTerm = prevTerm;
  }

  entryApplied(node: NodeId, index: number, key: string): void {
    const seen = this.applied.get(index);
    if (seen === undefined) {
      this.applied.set(index, key);
      this.maxApplied = Math.max(this.maxApplied, index);
    } else if (seen !== key) {
      throw new SafetyViolation(`state machine safety: node ${node} applied ${key} at ${index}, another node ${seen}`);
    }
  }
}
