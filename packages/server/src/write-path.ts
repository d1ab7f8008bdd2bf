import { LanceError } from "@lance/segment-format";
import type { Wal } from "@lance/wal";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import type { Topic, TopicRegistry } from "./topic-registry.js";
import { ENTRY_INGEST, decodeIngestEntry, encodeIngestEntry, type IngestEntry } from "./wal-entry.js";

/** Standalone runs as a single term; the cluster issue turns this into Raft terms. */
const STANDALONE_TERM = 1;
const REPLAY_CHUNK_BYTES = 8 * 1024 * 1024;

interface Pending {
  index: number;
  topic: Topic;
  entry: IngestEntry;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface IngestRequest {
  payload: Uint8Array;
  recordCount: number;
  timestampNs: bigint;
  flags: number;
}

/**
 * The durable write path (design.md D3): an ingest is given its offsets, framed into the WAL
 * (group-committed: one write and one fdatasync for everything queued), and applied to the
 * topic's segments once durable, in WAL order. The caller's promise resolves after both, so an
 * ack never depends on an unsynced write. Segments are fsynced at checkpoints, after which
 * the WAL behind them is recycled; replay after a crash is idempotent by offset.
 */
export class WritePath {
  private nextIndex: number;
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  private appliedIndex: number;
  private failure: Error | null = null;
  private checkpointing: Promise<void> | null = null;

  constructor(
    private readonly wal: Wal,
    private readonly topics: TopicRegistry,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.nextIndex = wal.lastIndex() + 1;
    this.appliedIndex = wal.lastIndex();
  }

  /** Bytes accepted but not yet durable and applied. */
  get inFlightBytes(): number {
    return this.pendingBytes;
  }

  get failed(): Error | null {
    return this.failure;
  }

  ingest(topic: Topic, req: IngestRequest): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const entry: IngestEntry = { topicId: topic.meta.id, baseOffset: topic.assigned, ...req };
    topic.assigned += req.recordCount;
    const index = this.nextIndex++;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ index, topic, entry, resolve, reject });
      this.pendingBytes += req.payload.byteLength;
      const started = process.hrtime.bigint();
      this.wal.append({ index, term: STANDALONE_TERM, type: ENTRY_INGEST, payload: encodeIngestEntry(entry) }).then(
        () => {
          this.metrics.walSyncSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
          this.applyDurable();
        },
        (err: unknown) => this.fail(err),
      );
    });
  }

  /** Applies, in index order, every pending entry the WAL has made durable. */
  private applyDurable(): void {
    const durable = this.wal.durableIndex();
    const done: Pending[] = [];
    const touched = new Set<Topic>();
    try {
      while (this.pending.length > 0 && this.pending[0]!.index <= durable) {
        const p = this.pending.shift()!;
        this.pendingBytes -= p.entry.payload.byteLength;
        this.applyEntry(p.topic, p.entry);
        touched.add(p.topic);
        this.appliedIndex = p.index;
        done.push(p);
      }
      for (const t of touched) if (!t.deleting) t.writer.flush();
    } catch (err) {
      this.fail(err);
      for (const p of done) p.reject(this.failure);
      return;
    }
    for (const p of done) p.resolve();
  }

  private applyEntry(topic: Topic, e: IngestEntry): void {
    if (topic.deleting) return;
    topic.writer.append({ payload: e.payload, recordCount: e.recordCount, firstTimestampNs: e.timestampNs, flags: e.flags }, e.baseOffset);
    topic.dirty = true;
    this.metrics.recordsIngested.inc(e.recordCount);
    this.metrics.bytesIngested.inc(e.payload.byteLength);
  }

  /** A WAL or segment write failed: nothing more is accepted; the server must restart (replay repairs it). */
  private fail(err: unknown): void {
    if (!this.failure) {
      const why = err instanceof Error ? err.message : String(err);
      this.failure = new LanceError("LNC_WRITE_PATH_FAILED", `write path failed, restart the server (the WAL replays what was acknowledged): ${why}`, { cause: err });
      this.log.error({ err: why }, "write path failed; rejecting writes until restart");
      this.metrics.errors.inc({ type: "io" });
    }
    for (const p of this.pending.splice(0)) p.reject(this.failure);
    this.pendingBytes = 0;
  }

  /** Resolves once everything accepted so far is durable and applied (or failed). */
  async drain(): Promise<void> {
    await this.wal.sync().catch(() => undefined);
    while (this.pending.length > 0 && !this.failure) await new Promise((r) => setImmediate(r));
  }

  /**
   * Fsyncs every topic changed since the last checkpoint (segment, `.idx`, catalog) and tells
   * the WAL that everything applied so far is durable elsewhere, so it can recycle its files.
   */
  checkpoint(): Promise<void> {
    this.checkpointing ??= this.doCheckpoint().finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  private async doCheckpoint(): Promise<void> {
    if (this.failure) return;
    const upTo = this.appliedIndex;
    if (upTo <= this.wal.checkpoint().index) return;
    for (const t of this.topics.all()) {
      if (t.dirty && !t.deleting) {
        t.dirty = false;
        try {
          await t.writer.checkpoint();
        } catch (err) {
          t.dirty = true;
          throw err;
        }
      }
    }
    await this.wal.markCheckpoint(upTo);
  }

  /**
   * Startup: re-applies WAL entries after the checkpoint that the segments do not hold yet.
   * An entry whose offsets a topic already has is skipped, so replaying twice is harmless.
   */
  async replay(): Promise<{ entries: number; applied: number; skipped: number }> {
    const stats = { entries: 0, applied: 0, skipped: 0 };
    const holes = this.wal.holes();
    let lo = Math.max(this.wal.checkpoint().index + 1, this.wal.firstIndex());
    const end = this.wal.lastIndex() + 1;
    while (lo < end) {
      const hole = holes.find((h) => lo >= h.from && lo <= h.to);
      if (hole) {
        this.log.warn({ from: hole.from, to: hole.to }, "WAL entries lost to lnc repair --skip-corrupt; their offsets stay a gap");
        lo = hole.to + 1;
        continue;
      }
      const nextHole = holes.filter((h) => h.from > lo).reduce((m, h) => Math.min(m, h.from), end);
      for (const e of await this.wal.entries(lo, nextHole, REPLAY_CHUNK_BYTES)) {
        stats.entries++;
        lo = e.index + 1;
        if (e.type !== ENTRY_INGEST) continue;
        const entry = decodeIngestEntry(e.payload, e.index);
        const topic = this.topics.get(entry.topicId);
        if (!topic || entry.baseOffset + entry.recordCount <= topic.writer.nextOffset) {
          stats.skipped++;
          continue;
        }
        if (entry.baseOffset < topic.writer.nextOffset) {
          throw new LanceError(
            "LNC_REPLAY_CONFLICT",
            `WAL entry ${e.index} (topic ${topic.meta.name}, offsets ${entry.baseOffset}..${entry.baseOffset + entry.recordCount - 1}) overlaps what the segments hold (up to ${topic.writer.nextOffset - 1}); run lnc verify-data --path <data_dir> --topic ${topic.meta.name}`,
          );
        }
        this.applyEntry(topic, entry);
        stats.applied++;
      }
    }
    for (const t of this.topics.all()) t.assigned = t.writer.nextOffset;
    this.appliedIndex = this.wal.lastIndex();
    return stats;
  }
}
