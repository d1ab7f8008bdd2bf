import { existsSync, mkdirSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { createWalFile, recycleWalFile, removeLeftoverTempFiles, unlinkIfPresent, writeFully } from "./wal-files.js";
import { basename, dirname, join, resolve } from "node:path";
import { analyzeWal, type WalAnalysis } from "./analyze.js";
import { fsyncDirAsync, writeFileAtomicAsync } from "./atomic.js";
import { EntryTable, HOLE, UNWRITTEN, type IndexRange } from "./entry-table.js";
import type { ReadEntry, RecoveryReport, WalEntry, WalOptions } from "./types.js";
import { WalReplayError, walError } from "./errors.js";
import { acquireLock, releaseLock } from "./lock.js";
import {
  FILE_HEADER_SIZE,
  MAX_USER_TYPE,
  TYPE_GAP,
  TYPE_TRUNCATE,
  encodeFileHeader,
  encodeFrameInto,
  frameSize,
  joinPayload,
  maxPayloadFor,
  parseFrameAt,
  payloadLength,
  type Payload,
  viewOf,
} from "./format.js";
import { CHECKPOINT_FILE, HARD_STATE_FILE, STAGING_COMPLETE_MARKER, repairStagingDirFor, walFileName } from "./paths.js";
import { encodeCheckpoint, encodeHardState, readCheckpoint, readHardState, validateHardState, type Checkpoint, type HardState } from "./state.js";

interface LiveFile {
  id: number;
  path: string;
  handle: FileHandle;
  size: number;
  firstIndex: number;
  /** Highest live index stored in the file (firstIndex - 1 when none). */
  maxIndex: number;
}

interface SpareFile {
  path: string;
  size: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface PendingRecord {
  type: number;
  index: number;
  term: number;
  payload: Payload;
  /** payloadLength(payload), computed once. */
  length: number;
  /** Settles the append (or truncation) call whose last record this is; null for the others. */
  resolve: (() => void) | null;
  reject: ((err: unknown) => void) | null;
  /** Set when the record is encoded (its frame's epoch, file offset and size). */
  epoch: number;
  offset: number;
  size: number;
}

const DEFAULTS = {
  segmentSize: 64 * 1024 * 1024,
  groupCommitWindowMs: 0,
  maxBatchBytes: 4 * 1024 * 1024,
  maxSpareFiles: 2,
};

function assertIndex(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw walError("LNC_WAL_BAD_ARGUMENT", `${name} must be a non-negative safe integer, got ${v}`);
}

/**
 * One append-only log per node (design.md D3), shaped as a Raft log store. Appends are
 * group-committed: one write and one fdatasync for everything queued, and each append's promise
 * resolves only after the fdatasync that covers it.
 */
export class Wal {
  readonly dir: string;
  readonly recovery: RecoveryReport;
  private readonly opts: typeof DEFAULTS & { logger?: WalOptions["logger"] };
  private readonly table: EntryTable;
  private readonly liveFiles: LiveFile[];
  private readonly spares: SpareFile[];
  private readonly filesById = new Map<number, LiveFile>();
  /** Position of the file appends go to in `liveFiles`, or -1 when the next append opens a new file. */
  private activeIdx: number;
  private nextFileId = 0;
  private epoch: number;
  private writePos: number;
  /** Last index of the records already written (physical stream order). */
  private physLast: number;
  private durableLast: number;
  private acceptedTerm: number;
  private cp: Checkpoint;
  private hs: HardState;
  private readonly unwritten = new Map<number, PendingRecord>();
  private pending: PendingRecord[] = [];
  private flushing = false;
  private scheduled = false;
  private failure: unknown = null;
  private closed = false;
  private stateChain: Promise<void> = Promise.resolve();
  private drainWaiters: Waiter[] = [];
  private stats = { writes: 0, syncs: 0, records: 0, bytes: 0 };
  private resetting = false;

  private constructor(dir: string, opts: WalOptions, a: WalAnalysis, cp: Checkpoint, hs: HardState, handles: Map<number, FileHandle>, started: number) {
    this.dir = dir;
    this.opts = { ...DEFAULTS, ...opts };
    this.cp = cp;
    this.hs = hs;
    this.epoch = a.maxEpoch + 1;

    // The chain files hold the log when the walk reached the checkpoint; otherwise (and for
    // every file outside the chain) the files are spares and the next append opens a new file.
    const usable = a.chain.length > 0 && a.endFile !== null && a.chainLastIndex >= cp.index;
    const chain = usable ? a.chain : [];
    this.liveFiles = chain.map((i) => {
      const f = a.files[i]!;
      const lf: LiveFile = { id: this.nextFileId++, path: f.path, handle: handles.get(i)!, size: f.size, firstIndex: f.header!.firstIndex, maxIndex: f.header!.firstIndex - 1 };
      this.filesById.set(lf.id, lf);
      return lf;
    });
    for (const [i, h] of handles) if (!chain.includes(i)) void h.close();
    this.spares = a.files.filter((_, i) => !chain.includes(i)).map((f) => ({ path: f.path, size: f.size }));

    const firstRow = usable ? Math.min(a.entries[0]?.index ?? Infinity, a.holes[0]?.from ?? Infinity, a.chainLastIndex + 1) : a.lastIndex + 1;
    this.table = new EntryTable(firstRow);
    let e = 0;
    let h = 0;
    for (let idx = firstRow; usable && idx <= a.chainLastIndex; idx++) {
      const entry = a.entries[e];
      if (entry && entry.index === idx) {
        const lf = this.liveFiles[chain.indexOf(entry.file)]!;
        this.table.push(entry.term, entry.type, lf.id, entry.offset, entry.size);
        lf.maxIndex = Math.max(lf.maxIndex, idx);
        e++;
      } else {
        while (a.holes[h] && a.holes[h]!.to < idx) h++;
        this.table.push(a.holes[h]?.term ?? 0, TYPE_GAP, HOLE, 0, 0);
      }
    }
    this.physLast = a.lastIndex;
    this.durableLast = a.lastIndex;
    this.acceptedTerm = a.lastTerm;
    const endIdx = usable ? chain.indexOf(a.endFile!) : -1;
    this.activeIdx = endIdx;
    this.writePos = endIdx >= 0 ? a.endOffset : 0;

    this.recovery = {
      dir,
      files: a.files.length,
      liveFiles: this.liveFiles.length,
      spareFiles: this.spares.length,
      entries: a.entries.filter((x) => x.index > cp.index).length,
      firstIndex: this.table.base,
      lastIndex: a.lastIndex,
      lastTerm: this.acceptedTerm,
      checkpoint: cp,
      hardState: hs,
      tornTail: a.tail && a.tail.kind === "torn" ? { file: a.tail.file, offset: a.tail.offset, bytes: a.tail.bytes, reason: a.tail.reason } : null,
      holes: this.table.holes(),
      durationMs: Date.now() - started,
    };
  }

  /**
   * Opens (creating if needed) the WAL in `dir` and replays it. A torn tail is cut off and
   * reported; corruption followed by valid entries throws {@link WalReplayError}.
   */
  static async open(dir: string, options: WalOptions = {}): Promise<Wal> {
    const started = Date.now();
    if (!existsSync(dir)) {
      const staging = repairStagingDirFor(dir);
      if (existsSync(join(staging, STAGING_COMPLETE_MARKER))) {
        throw walError("LNC_WAL_REPAIR_INCOMPLETE", `${dir} is missing but a finished repair waits in ${staging}; run: lnc repair --path ${dir}`);
      }
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      await fsyncDirAsync(dirname(resolve(dir)));
    }
    acquireLock(dir);
    try {
      return await Wal.openLocked(dir, options, started);
    } catch (err) {
      releaseLock(dir);
      throw err;
    }
  }

  private static async openLocked(dir: string, options: WalOptions, started: number): Promise<Wal> {
    const segmentSize = options.segmentSize ?? DEFAULTS.segmentSize;
    if (!Number.isSafeInteger(segmentSize) || segmentSize < FILE_HEADER_SIZE + 1024 || segmentSize % 8 !== 0) {
      throw walError("LNC_WAL_BAD_ARGUMENT", `segmentSize must be a multiple of 8 and at least ${FILE_HEADER_SIZE + 1024}`);
    }
    await removeLeftoverTempFiles(dir);
    const cp = readCheckpoint(dir);
    const hs = readHardState(dir);
    const a = analyzeWal(dir, cp, "replay");
    const damage = a.damages[0];
    if (damage) throw new WalReplayError(dir, damage.file, damage.offset, damage.reason);
    const handles = new Map<number, FileHandle>();
    for (const i of a.chain) handles.set(i, await open(a.files[i]!.path, "r+"));
    const wal = new Wal(dir, options, a, cp, hs, handles, started);
    await wal.finishRecovery(started);
    return wal;
  }

  private async finishRecovery(started: number): Promise<void> {
    const torn = this.recovery.tornTail;
    const active = this.liveFiles[this.activeIdx];
    if (torn && active) {
      // Zero the torn bytes so the next replay sees a clean end instead of the same junk again.
      await writeFully(active.handle, Buffer.alloc(torn.bytes), this.writePos);
      await active.handle.datasync();
      this.opts.logger?.({ event: "wal.torn_tail_truncated", ...torn });
    }
    await this.recycle();
    this.recovery.spareFiles = this.spares.length;
    this.recovery.liveFiles = this.liveFiles.length;
    this.recovery.firstIndex = this.firstIndex();
    this.recovery.durationMs = Date.now() - started;
    this.opts.logger?.({ event: "wal.recovered", report: this.recovery });
  }

  // ---- Raft log store reads ----

  /** First readable index (lastIndex + 1 when the log is empty). */
  firstIndex(): number {
    return this.table.base;
  }

  /** Last index appended (including appends whose fsync is still in flight). */
  lastIndex(): number {
    return this.table.length > 0 ? this.table.last : this.table.base - 1;
  }

  lastTerm(): number {
    return this.acceptedTerm;
  }

  /** Last index covered by a completed fdatasync. */
  durableIndex(): number {
    return this.durableLast;
  }

  checkpoint(): Checkpoint {
    return { ...this.cp };
  }

  hardState(): HardState {
    return { ...this.hs };
  }

  /** Index ranges missing after `lnc repair --skip-corrupt`. */
  holes(): IndexRange[] {
    return this.table.holes();
  }

  /** Term of entry `index`; also answers for the checkpoint index (the snapshot's term). */
  term(index: number): number {
    if (this.table.has(index)) {
      if (this.table.file(index) === HOLE) throw walError("LNC_WAL_GAP", `index ${index} was lost and skipped by a repair (hole)`);
      return this.table.term(index);
    }
    if (index === this.cp.index && index === this.table.base - 1) return this.cp.term;
    throw walError("LNC_WAL_OUT_OF_RANGE", `index ${index} is outside the log [${this.firstIndex()}, ${this.lastIndex()}]`);
  }

  /** Entries with index in [lo, hi), at least one when non-empty, stopping once `maxBytes` of payload is reached. */
  async entries(lo: number, hi: number, maxBytes = Infinity): Promise<ReadEntry[]> {
    this.assertUsable();
    if (lo < this.firstIndex() || hi > this.lastIndex() + 1 || lo > hi) {
      throw walError("LNC_WAL_OUT_OF_RANGE", `range [${lo}, ${hi}) is outside the log [${this.firstIndex()}, ${this.lastIndex()}]`);
    }
    const out: ReadEntry[] = [];
    let bytes = 0;
    let i = lo;
    while (i < hi && (out.length === 0 || bytes < maxBytes)) {
      const file = this.table.file(i);
      if (file === HOLE) throw walError("LNC_WAL_GAP", `index ${i} was lost and skipped by a repair (hole)`);
      if (file === UNWRITTEN) {
        const rec = this.unwritten.get(i)!;
        out.push({ index: i, term: rec.term, type: rec.type, payload: joinPayload(rec.payload) });
        bytes += rec.length;
        i++;
        continue;
      }
      // Coalesce a run of entries stored back to back in one file into one read.
      let j = i;
      let runBytes = this.table.size(i);
      while (j + 1 < hi && this.table.file(j + 1) === file && this.table.offset(j + 1) === this.table.offset(j) + this.table.size(j) && bytes + runBytes < maxBytes) {
        j++;
        runBytes += this.table.size(j);
      }
      const lf = this.filesById.get(file);
      if (!lf) throw walError("LNC_WAL_OUT_OF_RANGE", `index ${i} was recycled`);
      const buf = Buffer.alloc(runBytes);
      const start = this.table.offset(i);
      try {
        await lf.handle.read(buf, 0, runBytes, start);
      } catch (err) {
        if (!this.filesById.has(file)) throw walError("LNC_WAL_OUT_OF_RANGE", `index ${i} was recycled while being read`, { cause: err });
        throw err;
      }
      let at = 0;
      for (let k = i; k <= j; k++) {
        const p = parseFrameAt(buf, at);
        if (p.kind !== "frame" || p.frame.index !== k || !this.table.has(k) || p.frame.term !== this.table.term(k)) {
          if (!this.table.has(k)) throw walError("LNC_WAL_OUT_OF_RANGE", `index ${k} was truncated or recycled while being read`);
          throw walError("LNC_WAL_CORRUPT", `${lf.path} at byte ${start + at}: entry ${k} failed its check on read (${p.kind === "bad" ? p.reason : "not the expected frame"})`);
        }
        out.push({ index: k, term: p.frame.term, type: p.frame.type, payload: buf.subarray(p.frame.payloadOffset, p.frame.payloadOffset + p.frame.payloadLength) });
        bytes += p.frame.payloadLength;
        at += p.frame.size;
        if (bytes >= maxBytes) break;
      }
      i = out[out.length - 1]!.index + 1;
    }
    return out;
  }

  // ---- writes ----

  /**
   * Appends entries; the first index must be lastIndex + 1, indexes consecutive, terms never
   * decreasing. Resolves once an fdatasync covers them.
   */
  append(entries: WalEntry | WalEntry[]): Promise<void> {
    const list = Array.isArray(entries) ? entries : [entries];
    try {
      this.assertUsable();
      if (this.resetting) throw walError("LNC_WAL_BAD_APPEND", "append during a snapshot reset");
      let expect = this.lastIndex() + 1;
      let term = this.acceptedTerm;
      const maxPayload = maxPayloadFor(this.opts.segmentSize);
      for (const e of list) {
        const type = e.type ?? 0;
        if (e.index !== expect) throw walError("LNC_WAL_BAD_APPEND", `append of index ${e.index}, expected ${expect}`);
        assertIndex("term", e.term);
        if (e.term < term) throw walError("LNC_WAL_BAD_APPEND", `entry ${e.index} has term ${e.term} below the last term ${term}`);
        if (!Number.isInteger(type) || type < 0 || type > MAX_USER_TYPE) throw walError("LNC_WAL_BAD_APPEND", `entry type ${type} is outside 0..${MAX_USER_TYPE}`);
        const length = payloadLength(e.payload);
        if (length > maxPayload) {
          throw walError("LNC_WAL_ENTRY_TOO_LARGE", `entry ${e.index} is ${length} bytes; a ${this.opts.segmentSize}-byte WAL file holds at most ${maxPayload}`);
        }
        expect++;
        term = e.term;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (list.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      for (let n = 0; n < list.length; n++) {
        const e = list[n]!;
        const last = n === list.length - 1;
        const rec: PendingRecord = { type: e.type ?? 0, index: e.index, term: e.term, payload: e.payload, length: payloadLength(e.payload), resolve: last ? resolve : null, reject: last ? reject : null, epoch: 0, offset: 0, size: 0 };
        this.table.push(e.term, rec.type, UNWRITTEN, 0, 0);
        this.unwritten.set(e.index, rec);
        this.pending.push(rec);
      }
      this.acceptedTerm = list[list.length - 1]!.term;
      this.schedule();
    });
  }

  /**
   * Raft conflict truncation: removes every entry from `from` on. Durable when the promise
   * resolves (a truncation record is group-committed like an append).
   */
  truncateSuffix(from: number): Promise<void> {
    try {
      this.assertUsable();
      assertIndex("from", from);
      if (from <= this.cp.index) throw walError("LNC_WAL_BAD_ARGUMENT", `cannot truncate from ${from}: entries up to ${this.cp.index} are checkpointed`);
      if (from > this.lastIndex() + 1) throw walError("LNC_WAL_OUT_OF_RANGE", `cannot truncate from ${from}: the last index is ${this.lastIndex()}`);
    } catch (err) {
      return Promise.reject(err);
    }
    if (from === this.lastIndex() + 1) return this.sync();
    const k = from - 1;
    const termK = this.table.has(k) ? this.table.term(k) : this.cp.term;
    for (let i = from; i <= this.lastIndex(); i++) this.unwritten.delete(i);
    this.table.truncateAfter(k);
    this.acceptedTerm = termK;
    for (const lf of this.liveFiles) lf.maxIndex = Math.min(lf.maxIndex, k);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ type: TYPE_TRUNCATE, index: k, term: termK, payload: new Uint8Array(0), length: 0, resolve, reject, epoch: 0, offset: 0, size: 0 });
      this.schedule();
    });
  }

  /** Resolves when everything appended so far is durable. */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failedError());
    if (this.pending.length === 0 && !this.flushing) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /**
   * Records that everything up to `index` is applied and durable elsewhere, then recycles the
   * files that lie entirely behind it.
   */
  async markCheckpoint(index: number): Promise<void> {
    this.assertUsable();
    assertIndex("index", index);
    if (index < this.cp.index) throw walError("LNC_WAL_BAD_ARGUMENT", `checkpoint ${index} is below the current checkpoint ${this.cp.index}`);
    if (index > this.durableLast || index > this.lastIndex()) {
      throw walError("LNC_WAL_OUT_OF_RANGE", `checkpoint ${index} is beyond the durable log (${Math.min(this.durableLast, this.lastIndex())})`);
    }
    const term = index === this.cp.index ? this.cp.term : this.table.term(index);
    await this.serialState(async () => {
      if (index <= this.cp.index) return;
      await writeFileAtomicAsync(join(this.dir, CHECKPOINT_FILE), encodeCheckpoint({ index, term }));
      this.cp = { index, term };
      await this.recycle();
    });
  }

  /** Persists Raft hard state (temp + fsync + rename + fsync dir) before resolving. */
  async setHardState(s: HardState): Promise<void> {
    this.assertUsable();
    validateHardState(s);
    const copy: HardState = { term: s.term, vote: s.vote, commit: s.commit };
    if (s.rejoining !== undefined) copy.rejoining = s.rejoining;
    if (s.diskId !== undefined) copy.diskId = s.diskId;
    await this.serialState(async () => {
      await writeFileAtomicAsync(join(this.dir, HARD_STATE_FILE), encodeHardState(copy));
      this.hs = copy;
    });
  }

  /**
   * Snapshot install: the log becomes empty with `index`/`term` as its checkpoint; the next
   * append is `index + 1`. Old files are deleted.
   */
  async reset(index: number, term: number): Promise<void> {
    this.assertUsable();
    assertIndex("index", index);
    assertIndex("term", term);
    this.resetting = true;
    try {
      await this.sync();
      await this.serialState(() => this.resetLocked(index, term));
    } finally {
      this.resetting = false;
    }
  }

  private async resetLocked(index: number, term: number): Promise<void> {
    await writeFileAtomicAsync(join(this.dir, CHECKPOINT_FILE), encodeCheckpoint({ index, term }));
    this.cp = { index, term };
    const live = this.liveFiles.splice(0);
    for (const lf of live) await lf.handle.close();
    for (const f of [...live, ...this.spares.splice(0)]) {
      await unlinkIfPresent(f.path);
      this.opts.logger?.({ event: "wal.file_deleted", file: f.path });
    }
    this.filesById.clear();
    await fsyncDirAsync(this.dir);
    this.activeIdx = -1;
    this.unwritten.clear();
    this.table.resetTo(index + 1);
    this.physLast = index;
    this.durableLast = index;
    this.acceptedTerm = term;
    // Create the first file now so the empty log is pinned at `index` on disk.
    await this.openNextFile();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.failure) await this.sync().catch(() => undefined);
    await this.stateChain.catch(() => undefined);
    this.closed = true;
    for (const lf of this.liveFiles) await lf.handle.close();
    releaseLock(this.dir);
  }

  /** Counters for benchmarks and metrics. */
  ioStats(): { writes: number; syncs: number; records: number; bytes: number } {
    return { ...this.stats };
  }

  // ---- internals ----

  private assertUsable(): void {
    if (this.closed) throw walError("LNC_WAL_CLOSED", `WAL ${this.dir} is closed`);
    if (this.failure) throw this.failedError();
  }

  private failedError(): Error {
    return walError("LNC_WAL_FAILED", `WAL ${this.dir} failed an earlier write or fdatasync and must be reopened`, { cause: this.failure });
  }

  private serialState(fn: () => Promise<void>): Promise<void> {
    const run = this.stateChain.then(fn);
    this.stateChain = run.catch(() => undefined);
    return run;
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      void this.pump();
    };
    if (this.opts.groupCommitWindowMs > 0) setTimeout(go, this.opts.groupCommitWindowMs);
    else setImmediate(go);
  }

  private async pump(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && !this.failure) await this.flushOnce();
    } catch (err) {
      this.fail(err);
    } finally {
      this.flushing = false;
    }
    const waiters = this.drainWaiters.splice(0);
    for (const w of waiters) (this.failure ? w.reject(this.failedError()) : w.resolve());
  }

  private fail(err: unknown): void {
    this.failure = err;
    const error = this.failedError();
    for (const rec of this.pending.splice(0)) rec.reject?.(error);
  }

  /** One group commit: everything pending up to maxBatchBytes, one write and one fdatasync per file touched. */
  private async flushOnce(): Promise<void> {
    let take = 0;
    let bytes = 0;
    while (take < this.pending.length) {
      const size = frameSize(this.pending[take]!.length);
      if (take > 0 && bytes + size > this.opts.maxBatchBytes) break;
      bytes += size;
      take++;
    }
    const batch = this.pending.slice(0, take);
    let chunk = Buffer.allocUnsafe(bytes);
    let view = viewOf(chunk);
    let used = 0;
    let chunkStart = this.writePos;
    /** Records of the chunk being built are batch[chunkFrom .. chunkTo). */
    let chunkFrom = 0;
    let chunkTo = 0;
    const writeChunk = async (): Promise<void> => {
      if (used === 0) return;
      const lf = this.liveFiles[this.activeIdx]!;
      await writeFully(lf.handle, chunk.subarray(0, used), chunkStart);
      this.stats.writes++;
      this.stats.bytes += used;
      for (let i = chunkFrom; i < chunkTo; i++) {
        const rec = batch[i]!;
        if (rec.type === TYPE_TRUNCATE) continue;
        if (this.unwritten.get(rec.index) === rec) {
          this.unwritten.delete(rec.index);
          this.table.locate(rec.index, lf.id, rec.offset, rec.size);
        }
        if (this.table.has(rec.index)) lf.maxIndex = Math.max(lf.maxIndex, rec.index);
      }
      await lf.handle.datasync();
      this.stats.syncs++;
      chunk = chunk.subarray(used);
      view = viewOf(chunk);
      used = 0;
      chunkFrom = chunkTo;
    };
    for (const rec of batch) {
      const size = frameSize(rec.length);
      const active = this.liveFiles[this.activeIdx];
      if (!active || this.writePos + size > active.size) {
        await writeChunk();
        await this.openNextFile();
        chunkStart = this.writePos;
      }
      rec.epoch = this.epoch;
      rec.offset = this.writePos;
      rec.size = size;
      encodeFrameInto(chunk, used, rec, view);
      chunkTo++;
      used += size;
      this.writePos += size;
      this.physLast = rec.index;
    }
    await writeChunk();
    this.pending.splice(0, take);
    this.stats.records += take;
    this.durableLast = Math.min(this.physLast, this.lastIndex());
    for (const rec of batch) rec.resolve?.();
  }

  /** Makes a new active file whose first index is physLast + 1: a recycled spare when there is one, else a new preallocated file. */
  private async openNextFile(): Promise<void> {
    const firstIndex = this.physLast + 1;
    this.epoch++;
    const name = walFileName(firstIndex, this.epoch);
    const path = join(this.dir, name);
    const header = encodeFileHeader({ segmentSize: this.opts.segmentSize, firstIndex, epoch: this.epoch });
    let handle: FileHandle;
    const spareIdx = this.spares.findIndex((s) => s.size === this.opts.segmentSize);
    if (spareIdx >= 0) {
      const spare = this.spares.splice(spareIdx, 1)[0]!;
      handle = await recycleWalFile(spare.path, path, header);
      this.opts.logger?.({ event: "wal.file_recycled", file: path, from: basename(spare.path), firstIndex });
    } else {
      handle = await createWalFile(this.dir, name, this.opts.segmentSize, header);
      this.opts.logger?.({ event: "wal.file_created", file: path, firstIndex });
    }
    await fsyncDirAsync(this.dir);
    const lf: LiveFile = { id: this.nextFileId++, path, handle, size: this.opts.segmentSize, firstIndex, maxIndex: firstIndex - 1 };
    this.liveFiles.push(lf);
    this.filesById.set(lf.id, lf);
    this.activeIdx = this.liveFiles.length - 1;
    this.writePos = FILE_HEADER_SIZE;
  }

  /**
   * Moves files entirely behind the checkpoint to the spare pool (oldest first, never the
   * active file, and only while the next file still starts at or before checkpoint + 1, so
   * replay always finds where the log begins). Spares beyond maxSpareFiles are deleted.
   */
  private async recycle(): Promise<void> {
    const c = this.cp.index;
    while (this.liveFiles.length > 1 && this.activeIdx > 0) {
      const head = this.liveFiles[0]!;
      const next = this.liveFiles[1]!;
      if (head.maxIndex > c || next.firstIndex > c + 1) break;
      this.liveFiles.shift();
      this.activeIdx--;
      this.filesById.delete(head.id);
      this.table.dropThrough(Math.min(head.maxIndex, this.lastIndex()));
      await head.handle.close();
      this.spares.push({ path: head.path, size: head.size });
    }
    let deleted = false;
    while (this.spares.length > this.opts.maxSpareFiles) {
      const victim = this.spares.shift()!;
      await unlinkIfPresent(victim.path);
      this.opts.logger?.({ event: "wal.file_deleted", file: victim.path });
      deleted = true;
    }
    if (deleted) await fsyncDirAsync(this.dir);
  }
}
