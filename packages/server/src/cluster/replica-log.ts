import { EntryLog, type Entry, type HardState, type SnapshotMeta, type Storage } from "@lance/raft";
import type { Wal } from "@lance/wal";

/** WAL entry types of Raft entries (the WAL stores index and term itself). */
export const WAL_TYPE_NORMAL = 2;
export const WAL_TYPE_NOOP = 3;
/** Ingest entries written by the pre-Raft standalone server: a bare ingest body. */
const WAL_TYPE_LEGACY_INGEST = 1;
const LEGACY_INGEST_PREFIX = Uint8Array.of(1);

const LOAD_CHUNK_BYTES = 8 * 1024 * 1024;

/** What the log store needs from the state machine to serve a snapshot of it (see snapshot.ts). */
export interface SnapshotProvider {
  /** Captures the applied state now; `index`/`term` name the last applied entry. */
  capture(index: number, term: number): { meta: SnapshotMeta; read(offset: number, maxBytes: number): Uint8Array; close(): void };
  /** Index of the last applied entry. */
  applied(): number;
}

/**
 * Raft's log store (design D4: the Raft log is the WAL). Raft reads synchronously, so the
 * entries since the compaction point are kept in memory as well; every write goes to the WAL
 * first and the caller waits for its fdatasync before telling Raft (persist before send).
 *
 * Snapshots are not files: when Raft needs one (a follower behind the compaction point, or one
 * restarted on an empty disk) the state machine's segment files are captured at the applied
 * index, and read from in chunks while the leader streams them.
 */
export class ReplicaLog implements Storage {
  private hard: HardState;
  private readonly log: EntryLog;
  private snap: SnapshotMeta;
  private snapSource: ReturnType<SnapshotProvider["capture"]> | null = null;
  private provider: SnapshotProvider | null = null;

  private constructor(
    private readonly wal: Wal,
    hard: HardState,
    base: { index: number; term: number },
    entries: Entry[],
  ) {
    this.hard = hard;
    this.log = new EntryLog(base, entries);
    this.snap = { index: base.index, term: base.term, size: 0 };
  }

  /**
   * Reads the WAL after its checkpoint into memory. WAL holes (entries dropped by
   * `lnc repair --skip-corrupt`) cannot be part of a Raft log: a single-voter group fills them
   * with no-ops (their offsets stay a gap, as before Raft); a cluster member cuts its log at the
   * first hole and fetches the rest from the leader again.
   */
  static async load(wal: Wal, opts: { singleVoter: boolean; warn: (obj: object, msg: string) => void }): Promise<ReplicaLog> {
    const cp = wal.checkpoint();
    const ws = wal.hardState();
    const hard: HardState = {
      term: ws.term,
      vote: ws.vote,
      // The commit index is written lazily (with checkpoints); what was applied was committed.
      commit: Math.max(ws.commit, cp.index),
      rejoining: ws.rejoining ?? false,
      diskId: ws.diskId ?? 0,
    };
    const entries: Entry[] = [];
    let lo = Math.max(cp.index + 1, wal.firstIndex());
    const end = wal.lastIndex() + 1;
    const holes = wal.holes().filter((h) => h.to >= lo);
    for (const hole of holes) {
      if (!opts.singleVoter) {
        opts.warn({ from: hole.from, to: hole.to }, "WAL hole left by lnc repair --skip-corrupt: the log is cut there and the rest is fetched from the leader");
        await wal.truncateSuffix(hole.from);
        break;
      }
    }
    const stop = opts.singleVoter ? end : Math.min(end, wal.lastIndex() + 1);
    while (lo < stop) {
      const hole = holes.find((h) => lo >= h.from && lo <= h.to);
      if (hole) {
        const next = hole.to + 1 < stop ? wal.term(hole.to + 1) : wal.lastTerm();
        opts.warn({ from: hole.from, to: hole.to }, "WAL entries lost to lnc repair --skip-corrupt; their offsets stay a gap");
        for (let i = hole.from; i <= hole.to; i++) entries.push({ index: i, term: next, type: "noop", data: new Uint8Array(0) });
        lo = hole.to + 1;
        continue;
      }
      const nextHole = holes.filter((h) => h.from > lo).reduce((m, h) => Math.min(m, h.from), stop);
      for (const e of await wal.entries(lo, nextHole, LOAD_CHUNK_BYTES)) {
        entries.push(fromWal(e.index, e.term, e.type, e.payload));
        lo = e.index + 1;
      }
    }
    return new ReplicaLog(wal, hard, cp, entries);
  }

  /** Set once the state machine exists; until then no snapshot can be captured. */
  setSnapshotProvider(p: SnapshotProvider): void {
    this.provider = p;
  }

  // ---- Storage (read side, synchronous) ----

  initialState(): HardState {
    return this.hard;
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

  /**
   * The newest snapshot. Before the state machine is attached this is the compaction point
   * (Raft's log floor); afterwards a snapshot is captured on demand at the applied index and
   * kept while it still covers the compaction point.
   */
  snapshot(): SnapshotMeta {
    if (!this.provider) return this.snap;
    if (this.snapSource && this.snap.index >= this.log.offset) return this.snap;
    const applied = this.provider.applied();
    const term = this.log.term(applied);
    this.snapSource?.close();
    this.snapSource = this.provider.capture(applied, term);
    this.snap = this.snapSource.meta;
    return this.snap;
  }

  snapshotChunk(index: number, offset: number, maxBytes: number): Uint8Array | null {
    if (!this.snapSource || index !== this.snap.index) return null;
    return this.snapSource.read(offset, maxBytes);
  }

  // ---- write side (the replica calls these while carrying out a Ready) ----

  /** Entries from `from` on that an append at `from` would replace (a conflicting suffix). */
  suffixFrom(from: number): Entry[] {
    return this.log.suffixFrom(from);
  }

  /** Appends to memory and the WAL (dropping a conflicting suffix first); resolves once durable. */
  async append(entries: readonly Entry[]): Promise<void> {
    const truncate = entries.length > 0 && entries[0]!.index <= this.log.lastIndex();
    const fresh = this.log.append(entries);
    const head = fresh[0];
    if (head === undefined) return;
    if (truncate) await this.wal.truncateSuffix(head.index);
    await this.wal.append(fresh.map((e) => ({ index: e.index, term: e.term, type: e.type === "noop" ? WAL_TYPE_NOOP : WAL_TYPE_NORMAL, payload: e.data })));
  }

  /** Term and vote (and the rejoin state) must be on disk before any reply; commit alone may lag. */
  async setHardState(hs: HardState): Promise<void> {
    const prev = this.hard;
    this.hard = hs;
    if (hs.term !== prev.term || hs.vote !== prev.vote || hs.rejoining !== prev.rejoining || hs.diskId !== prev.diskId) await this.persistHardState();
  }

  /** Writes the hard state including the current commit index (called at checkpoints too). */
  async persistHardState(): Promise<void> {
    const hs = this.hard;
    await this.wal.setHardState({ term: hs.term, vote: hs.vote, commit: hs.commit, rejoining: hs.rejoining, diskId: hs.diskId });
  }

  /**
   * Everything through `index` is applied and durable in the segments: the WAL may recycle its
   * files, and the memory copy keeps only `keepBytes` of entry data behind it (so a follower
   * slightly behind catches up from the log rather than a snapshot).
   */
  async checkpoint(index: number, keepBytes: number): Promise<void> {
    if (index <= this.wal.checkpoint().index) return;
    await this.persistHardState();
    await this.wal.markCheckpoint(index);
    let bytes = 0;
    let cut = index;
    while (cut > this.log.offset) {
      bytes += this.log.entries(cut, cut + 1)[0]!.data.byteLength;
      if (bytes > keepBytes) break;
      cut--;
    }
    this.log.compact(cut);
  }

  /** A snapshot from the leader was installed: the log restarts after it, in memory and in the WAL. */
  async installSnapshot(meta: SnapshotMeta): Promise<void> {
    this.snapSource?.close();
    this.snapSource = null;
    this.snap = { index: meta.index, term: meta.term, size: 0 };
    this.log.reset(meta.index, meta.term);
    this.hard = { ...this.hard, commit: Math.max(this.hard.commit, meta.index) };
    await this.wal.reset(meta.index, meta.term);
    await this.persistHardState();
  }

  close(): void {
    this.snapSource?.close();
    this.snapSource = null;
  }
}

function fromWal(index: number, term: number, type: number, payload: Uint8Array): Entry {
  if (type === WAL_TYPE_NOOP) return { index, term, type: "noop", data: new Uint8Array(0) };
  if (type === WAL_TYPE_LEGACY_INGEST) return { index, term, type: "normal", data: Buffer.concat([LEGACY_INGEST_PREFIX, payload]) };
  return { index, term, type: "normal", data: payload };
}
