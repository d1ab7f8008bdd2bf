import { RaftError } from "./errors.js";
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT, type Entry, type HardState, type SnapshotMeta } from "./types.js";

/**
 * The read side of a node's durable state. Raft only reads through it; the host writes
 * (persisting what a Ready hands it) before calling advance(). A WAL-backed store implements
 * this on top of its files; MemoryStorage is the reference implementation.
 *
 * Indexes: the log holds (firstIndex()-1, lastIndex()]; term(firstIndex()-1) is still known
 * (it is the compaction point or the snapshot's index).
 */
export interface Storage {
  initialState(): HardState;
  /** Entries [lo, hi). Throws LNC_RAFT_COMPACTED if lo < firstIndex(), LNC_RAFT_UNAVAILABLE if hi > lastIndex()+1. */
  entries(lo: number, hi: number): Entry[];
  /** Term of entry i for firstIndex()-1 <= i <= lastIndex(); throws like entries() otherwise. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The newest snapshot (EMPTY_SNAPSHOT if none). */
  snapshot(): SnapshotMeta;
  /**
   * Up to maxBytes of the snapshot whose meta.index is `index`, from `offset`. Returns null when
   * that snapshot is no longer the current one (the leader then starts over with the newer one).
   */
  snapshotChunk(index: number, offset: number, maxBytes: number): Uint8Array | null;
}

/** In-memory Storage for tests and the simulator. Also the model a WAL store must match. */
export class MemoryStorage implements Storage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: SnapshotMeta = EMPTY_SNAPSHOT;
  private snapData: Uint8Array = new Uint8Array(0);
  /** ents[0] is a placeholder at the compaction point: its index and term are kept, nothing else. */
  private ents: Entry[] = [{ index: 0, term: 0, type: "noop", data: new Uint8Array(0) }];

  initialState(): HardState {
    return this.hard;
  }

  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  private get offset(): number {
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

  snapshot(): SnapshotMeta {
    return this.snap;
  }

  snapshotChunk(index: number, offset: number, maxBytes: number): Uint8Array | null {
    if (index !== this.snap.index) return null;
    return this.snapData.subarray(offset, Math.min(this.snapData.length, offset + maxBytes));
  }

  /** Appends entries, dropping any existing suffix from the first new index on. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index > this.lastIndex() + 1) {
      throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    }
    // Entries already covered by the compaction point are committed and identical: skip them.
    const fresh = entries.filter((e) => e.index > this.offset);
    const head = fresh[0];
    if (head === undefined) return;
    this.ents.length = head.index - this.offset;
    for (const e of fresh) this.ents.push(e);
  }

  /** The host has applied through `index` and captured the state as `data`. */
  createSnapshot(index: number, data: Uint8Array): SnapshotMeta {
    if (index <= this.snap.index) throw new RaftError("LNC_RAFT_SNAPSHOT_OUT_OF_DATE", `snapshot at ${index} is not newer than ${this.snap.index}`);
    if (index > this.lastIndex()) throw new RaftError("LNC_RAFT_UNAVAILABLE", `snapshot at ${index} is past the last index ${this.lastIndex()}`);
    this.snap = { index, term: this.term(index), size: data.length };
    this.snapData = data;
    return this.snap;
  }

  /** Drops entries up to and including `index` (which must be covered by the snapshot). */
  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.snap.index) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `compact to ${index} beyond snapshot ${this.snap.index}`);
    const base = this.ents[index - this.offset]!;
    this.ents = [{ index: base.index, term: base.term, type: "noop", data: new Uint8Array(0) }, ...this.ents.slice(index - this.offset + 1)];
  }

  /** Installs a snapshot received from the leader: the whole log is replaced by it. */
  applySnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    if (meta.index <= this.snap.index) throw new RaftError("LNC_RAFT_SNAPSHOT_OUT_OF_DATE", `snapshot at ${meta.index} is not newer than ${this.snap.index}`);
    this.snap = meta;
    this.snapData = data;
    this.ents = [{ index: meta.index, term: meta.term, type: "noop", data: new Uint8Array(0) }];
  }

  /** The snapshot's bytes (for a host restoring its state machine at startup). */
  snapshotData(): Uint8Array {
    return this.snapData;
  }
}
