import { EntryLog } from "./entry-log.js";
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
  private readonly log = new EntryLog();

  initialState(): HardState {
    return this.hard;
  }

  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  term(i: number): number {
    return this.log.term(i);
  }

  entries(lo: number, hi: number): Entry[] {
    return this.log.entries(lo, hi);
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
    this.log.append(entries);
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
    if (index <= this.log.offset) return;
    if (index > this.snap.index) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `compact to ${index} beyond snapshot ${this.snap.index}`);
    this.log.compact(index);
  }

  /** Installs a snapshot received from the leader: the whole log is replaced by it. */
  applySnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    if (meta.index <= this.snap.index) throw new RaftError("LNC_RAFT_SNAPSHOT_OUT_OF_DATE", `snapshot at ${meta.index} is not newer than ${this.snap.index}`);
    this.snap = meta;
    this.snapData = data;
    this.log.reset(meta.index, meta.term);
  }

  /** The snapshot's bytes (for a host restoring its state machine at startup). */
  snapshotData(): Uint8Array {
    return this.snapData;
  }
}
