import { RaftError, isRaftError } from "./errors.js";
import type { Storage } from "./storage.js";
import type { Entry, SnapshotMeta } from "./types.js";

/**
 * The log as Raft sees it: what the host has persisted (Storage) plus what Raft has accepted
 * but not yet handed over in a Ready (`unstable`, starting at index `offset`), plus a received
 * snapshot not yet installed (`pendingSnapshot`).
 */
export class RaftLog {
  readonly storage: Storage;
  private unstable: Entry[] = [];
  private offset: number;
  private pendingSnap: SnapshotMeta | null = null;
  committed: number;
  applied: number;

  /** `applied`: what the host's state machine already holds (at least the snapshot). */
  constructor(storage: Storage, committed: number, applied: number) {
    this.storage = storage;
    this.offset = storage.lastIndex() + 1;
    const floor = Math.max(storage.firstIndex() - 1, storage.snapshot().index);
    this.committed = Math.max(committed, floor);
    if (applied > this.committed) {
      throw new RaftError("LNC_RAFT_BAD_CONFIG", `applied ${applied} is past the commit index ${this.committed}`);
    }
    this.applied = Math.max(applied, floor);
  }

  get pendingSnapshot(): SnapshotMeta | null {
    return this.pendingSnap;
  }

  firstIndex(): number {
    return this.pendingSnap !== null ? this.pendingSnap.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    if (this.pendingSnap !== null) return this.pendingSnap.index;
    return this.storage.lastIndex();
  }

  /** Last index of the part of this log the host has persisted (below the unstable tail). */
  stableLastIndex(): number {
    if (this.unstable.length > 0) return this.offset - 1;
    if (this.pendingSnap !== null) return this.pendingSnap.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term at index i, or undefined if i is compacted or past the end. */
  term(i: number): number | undefined {
    if (i > this.lastIndex() || i < this.firstIndex() - 1) return undefined;
    if (i >= this.offset) return this.unstable[i - this.offset]?.term;
    if (this.pendingSnap !== null) return i === this.pendingSnap.index ? this.pendingSnap.term : undefined;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (isRaftError(err, "LNC_RAFT_COMPACTED") || isRaftError(err, "LNC_RAFT_UNAVAILABLE")) return undefined;
      throw err;
    }
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Entries [lo, hi) from storage and the unstable tail. Throws LNC_RAFT_COMPACTED below firstIndex. */
  entries(lo: number, hi: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError("LNC_RAFT_COMPACTED", `index ${lo} is compacted`);
    const end = Math.min(hi, this.lastIndex() + 1);
    if (lo >= end) return [];
    // concat, not push(...): a range can hold more entries than a call may take arguments.
    const stored = lo < this.offset ? this.storage.entries(lo, Math.min(end, this.offset)) : [];
    const fresh = end > this.offset ? this.unstable.slice(Math.max(lo, this.offset) - this.offset, end - this.offset) : [];
    return stored.length === 0 ? fresh : fresh.length === 0 ? stored : stored.concat(fresh);
  }

  /** Is a log ending at (lastIndex, lastTerm) at least as up to date as ours (Raft §5.4.1)? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Appends, replacing everything from ents[0].index on. Returns the new last index. */
  append(ents: readonly Entry[]): number {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    if (first.index <= this.committed) {
      throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `append at ${first.index} would overwrite committed ${this.committed}`);
    }
    if (first.index === this.offset + this.unstable.length) {
      for (const e of ents) this.unstable.push(e);
    } else if (first.index <= this.offset) {
      this.offset = first.index;
      this.unstable = [...ents];
    } else {
      this.unstable = this.unstable.slice(0, first.index - this.offset).concat(ents);
    }
    return this.lastIndex();
  }

  /** The first entry in ents whose index is past our end or whose term differs from ours; 0 if none. */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Follower side of AppendEntries. If our log holds (prevIndex, prevTerm), drop any conflicting
   * suffix, append what is new, commit up to min(commit, last new index) and return that index.
   * Returns null when the prev entry does not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `entry ${conflict} conflicts with committed ${this.committed}`);
      }
      this.append(ents.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term` (or whose term is
   * unknown because it is compacted). A leader uses it to skip a whole conflicting term.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      if (index > this.lastIndex()) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `commit ${index} past last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Replaces the whole log by a received snapshot; it becomes committed. */
  restore(meta: SnapshotMeta): void {
    this.pendingSnap = meta;
    this.unstable = [];
    this.offset = meta.index + 1;
    this.committed = meta.index;
  }

  unstableEntries(): Entry[] {
    return [...this.unstable];
  }

  /** Committed entries the host has not been given yet. None while a snapshot waits to be installed. */
  nextCommittedEntries(): Entry[] {
    if (this.pendingSnap !== null) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (lo > this.committed) return [];
    return this.entries(lo, this.committed + 1);
  }

  /** The host persisted entries through (index, term). */
  stableTo(index: number, term: number): void {
    if (index < this.offset || index >= this.offset + this.unstable.length) return;
    if (this.unstable[index - this.offset]!.term !== term) return;
    this.unstable = this.unstable.slice(index - this.offset + 1);
    this.offset = index + 1;
  }

  /** The host installed the pending snapshot. */
  stableSnapTo(index: number): void {
    if (this.pendingSnap !== null && this.pendingSnap.index === index) {
      this.pendingSnap = null;
      this.applied = Math.max(this.applied, index);
    }
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
  }
}
