import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  LanceError,
  SegmentWriter,
  fsyncDir,
  listTopicSegments,
  nowNs,
  parseSegmentName,
  repairSegmentFile,
  scanSegmentFile,
  type AppendedBatch,
  type BatchInput,
  type SegmentWriterOptions,
} from "@lance/segment-format";
import { catalogSegmentFileName, readCatalog, writeCatalog, type CatalogGap, type CatalogSegment, type TopicCatalog } from "./catalog.js";
import { assembleCatalog, catalogSegmentOf } from "./rebuild.js";
import { SegmentIndex, SegmentIndexBuilder, DEFAULT_INDEX_INTERVAL_BYTES } from "./segment-index.js";
import { catalogPath, segmentIndexPath } from "./topic-paths.js";

export interface TopicWriterOptions extends SegmentWriterOptions {
  indexIntervalBytes?: number;
  /** Wall clock in ns; tests pin it. */
  clock?: () => bigint;
  /** Recovery and rotation notes (torn tails cut, indexes rebuilt); the server logs them. */
  log?: (message: string) => void;
}

/**
 * Appends batches to a topic directory: rotates segments by size and age, builds each
 * segment's `.idx` while writing, and keeps `index.idx` current. Opening recovers the
 * directory first (torn tail of the active segment cut with a backup, missing or stale
 * indexes rebuilt); damage in the middle of a segment refuses to open and names the repair.
 */
export class TopicWriter {
  readonly dir: string;
  private readonly opts: TopicWriterOptions;
  private readonly clock: () => bigint;
  private readonly log: (message: string) => void;
  private closedSegments: CatalogSegment[];
  private gaps: CatalogGap[];
  private logStartOffset: number;
  private active: SegmentWriter | null = null;
  private builder: SegmentIndexBuilder | null = null;
  private next: number;
  private closed = false;
  private version = 0;

  private constructor(dir: string, opts: TopicWriterOptions, catalog: TopicCatalog) {
    this.dir = dir;
    this.opts = opts;
    this.clock = opts.clock ?? nowNs;
    this.log = opts.log ?? (() => {});
    this.closedSegments = catalog.entries.filter((e): e is CatalogSegment => e.kind === "segment" && e.state === "closed");
    this.gaps = catalog.entries.filter((e): e is CatalogGap => e.kind === "gap");
    this.logStartOffset = catalog.logStartOffset;
    this.next = catalog.nextOffset;
  }

  static open(dir: string, opts: TopicWriterOptions = {}): TopicWriter {
    const log = opts.log ?? (() => {});
    const interval = opts.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES;
    const { segments } = listTopicSegments(dir);
    const previous = existsSync(catalogPath(dir)) ? safeReadCatalog(dir, log) : null;
    const entries: CatalogSegment[] = [];
    let resume: { path: string; builder: SegmentIndexBuilder } | null = null;

    segments.forEach((seg, i) => {
      let path = join(dir, seg.fileName);
      let name = seg;
      const isLast = i === segments.length - 1;
      if (seg.closedNs === null || !indexIsCurrent(dir, seg.stem, statSync(path).size)) {
        const builder = new SegmentIndexBuilder(seg.baseOffset, interval);
        let scan = scanSegmentFile(path, { baseOffset: seg.baseOffset, onBatch: (b, inPrefix) => inPrefix && builder.add(b) });
        if (!scan.ok) {
          if (!(isLast && seg.closedNs === null && scan.damageAtTailOnly)) {
            const p = scan.problems[0]!;
            throw new LanceError(p.code, `cannot open topic ${dir}: ${path} is damaged at byte ${p.position} (${p.kind}: ${p.message}); run lnc repair --path ${path}`);
          }
          const fix = repairSegmentFile(path, "tail");
          log(`truncated torn tail of ${path}: ${fix.droppedBytes} bytes after byte ${fix.newSize} cut (${scan.problems[0]!.kind}); saved to ${fix.backupPath}`);
          scan = scanSegmentFile(path, { baseOffset: seg.baseOffset });
        }
        if (seg.closedNs === null && !isLast) {
          // An older active segment (a crash during rotation): close it so only one is active.
          const closedNs = builder.state.batchCount > 0 ? builder.state.maxTimestampNs : seg.createdNs;
          const w = SegmentWriter.resume(path, scan.validPrefixBytes, builder.state.nextOffset);
          path = w.close(closedNs);
          name = parseSegmentName(w.name)!;
          log(`closed leftover active segment as ${w.name}`);
        }
        if (name.closedNs === null) {
          resume = { path, builder };
        } else {
          builder.writeTo(segmentIndexPath(dir, name.stem));
          if (seg.closedNs !== null) log(`rebuilt index ${segmentIndexPath(dir, name.stem)}`);
          entries.push(catalogSegmentOf(name, builder.state, statSync(path).size, true));
        }
      } else {
        const idx = SegmentIndex.load(segmentIndexPath(dir, seg.stem));
        entries.push(catalogSegmentOf(seg, idx.summary, statSync(path).size, true));
      }
    });

    const warnings: string[] = [];
    const catalog = assembleCatalog(dir, entries, previous?.entries.filter((e): e is CatalogGap => e.kind === "gap" && e.reason === "in-segment") ?? [], previous, warnings);
    warnings.forEach(log);
    const tw = new TopicWriter(dir, opts, catalog);
    if (resume) {
      const { path, builder } = resume as { path: string; builder: SegmentIndexBuilder };
      tw.active = SegmentWriter.resume(path, builder.state.coveredBytes, builder.state.nextOffset, opts);
      tw.builder = builder;
      tw.next = Math.max(tw.next, builder.state.nextOffset);
    }
    tw.writeCatalog();
    return tw;
  }

  /** Changes whenever a segment file is created, renamed by closing, or deleted. */
  get segmentsVersion(): number {
    return this.version;
  }

  /** One past the last offset assigned: the next append's base offset. */
  get nextOffset(): number {
    return this.next;
  }

  get activeSegmentPath(): string | null {
    return this.active?.path ?? null;
  }

  /**
   * Appends a batch at the next offset, or at `atOffset` (at or after it) when the caller
   * assigns offsets itself; a later offset leaves a gap.
   */
  append(input: BatchInput, atOffset?: number): AppendedBatch {
    if (this.closed) throw new LanceError("LNC_CLOSED", `topic ${this.dir} is closed`);
    if (atOffset !== undefined && atOffset < this.next) {
      throw new LanceError("LNC_OFFSET_REGRESSION", `cannot append at offset ${atOffset}: topic ${this.dir} is already at ${this.next}`);
    }
    // Reading the clock costs a BigInt per append; only age-limited topics need it.
    const ageLimited = Number.isFinite(this.opts.maxSegmentAgeMs ?? Number.POSITIVE_INFINITY);
    if (this.active?.shouldRotate(ageLimited ? Number(this.clock() / 1_000_000n) : 0)) this.rotate();
    // Skipped offsets are a gap, unless nothing was ever written: then the log starts there.
    if (atOffset !== undefined && atOffset > this.next && (this.active || this.closedSegments.length > 0)) {
      this.gaps.push({ kind: "gap", reason: this.active ? "in-segment" : "missing", from: this.next, to: atOffset });
    }
    if (!this.active) {
      const base = atOffset ?? this.next;
      this.active = SegmentWriter.create(this.dir, base, this.clock(), this.opts);
      this.version++;
      this.builder = new SegmentIndexBuilder(base, this.opts.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES);
    }
    const appended = this.active.append(input, atOffset);
    this.builder!.add(appended);
    this.next = appended.nextOffset;
    return appended;
  }

  /** Closes the active segment under its closed name, writes its final `.idx` and the catalog. */
  rotate(): void {
    if (!this.active || !this.builder) return;
    const s = this.builder.state;
    const closedNs = s.batchCount > 0 ? s.maxTimestampNs : this.active.createdNs;
    const path = this.active.close(closedNs);
    this.version++;
    const name = parseSegmentName(path.slice(this.dir.length + 1))!;
    this.builder.writeTo(segmentIndexPath(this.dir, name.stem));
    this.closedSegments.push(catalogSegmentOf(name, s, statSync(path).size, true));
    this.active = null;
    this.builder = null;
    this.writeCatalog();
  }

  /** The in-memory index of the active segment named `fileName` (null for any other file). */
  liveIndex(fileName: string): SegmentIndex | null {
    if (!this.active || !this.builder || this.active.name !== fileName) return null;
    return new SegmentIndex({ ...this.builder.state }, this.builder.entries);
  }

  /** Hands buffered appends to the OS so readers see them (not yet durable). */
  flush(): void {
    this.active?.flush();
  }

  /**
   * Deletes the oldest closed segments (and their indexes) while the topic is over `maxBytes`,
   * and closed segments whose newest record is older than `maxAgeMs`. 0 or null means no
   * limit. The active segment is never deleted, and offsets are never renumbered: the log
   * simply starts later. Returns the deleted segment files.
   */
  enforceRetention(limits: { maxBytes: number | null; maxAgeMs: number | null }): string[] {
    const removed: string[] = [];
    const nowMs = Number(this.clock() / 1_000_000n);
    let total = this.closedSegments.reduce((n, s) => n + s.sizeBytes, 0) + (this.active?.size ?? 0);
    while (this.closedSegments.length > 0) {
      const oldest = this.closedSegments[0]!;
      const tooBig = Boolean(limits.maxBytes) && total > limits.maxBytes!;
      const tooOld = Boolean(limits.maxAgeMs) && oldest.batchCount > 0 && nowMs - Number(oldest.maxTimestampNs / 1_000_000n) > limits.maxAgeMs!;
      if (!tooBig && !tooOld) break;
      const file = join(this.dir, catalogSegmentFileName(oldest));
      // The catalog first: a crash between the two leaves a file the catalog no longer lists,
      // which the next open re-adds, rather than a catalog entry without its file.
      this.closedSegments.shift();
      this.logStartOffset = oldest.nextOffset;
      // The catalog's next offset must never run ahead of durable data (replay trusts it).
      this.active?.sync();
      this.gaps = this.gaps.filter((g) => g.to > this.logStartOffset);
      this.writeCatalog();
      rmSync(file, { force: true });
      this.version++;
      rmSync(segmentIndexPath(this.dir, parseSegmentName(catalogSegmentFileName(oldest))!.stem), { force: true });
      total -= oldest.sizeBytes;
      removed.push(file);
    }
    if (removed.length > 0) fsyncDir(this.dir);
    return removed;
  }

  /**
   * Makes every append so far durable without blocking the event loop on the fdatasync, then
   * rewrites the catalog. The active segment's `.idx` is left for rotation and close: opening a
   * topic rebuilds it from the segment anyway, and rewriting it every checkpoint would cost
   * megabytes per second on a large active segment.
   */
  async checkpoint(): Promise<void> {
    if (this.closed) return;
    await this.active?.syncAsync();
    if (!this.closed) this.writeCatalog();
  }

  /** Checkpoint: the active segment is fsynced, its `.idx` and the catalog written. */
  sync(): void {
    if (this.active && this.builder) {
      this.active.sync();
      this.builder.writeTo(segmentIndexPath(this.dir, parseSegmentName(this.active.name)!.stem));
    }
    this.writeCatalog();
  }

  /** Syncs and releases the files; the active segment keeps its name and resumes on open. */
  close(): void {
    if (this.closed) return;
    this.sync();
    this.active?.release();
    this.closed = true;
  }

  catalog(): TopicCatalog {
    const segments = [...this.closedSegments];
    if (this.active && this.builder) {
      segments.push(catalogSegmentOf(parseSegmentName(this.active.name)!, this.builder.state, this.active.size, true));
    }
    const entries = [...segments, ...this.gaps].sort((a, b) => (a.kind === "segment" ? a.baseOffset : a.from) - (b.kind === "segment" ? b.baseOffset : b.from));
    return { builtNs: this.clock(), logStartOffset: Math.max(this.logStartOffset, segments[0]?.baseOffset ?? this.logStartOffset), nextOffset: this.next, entries };
  }

  private writeCatalog(): void {
    writeCatalog(catalogPath(this.dir), this.catalog());
  }
}

function indexIsCurrent(dir: string, stem: string, size: number): boolean {
  try {
    const idx = SegmentIndex.load(segmentIndexPath(dir, stem));
    return idx.summary.coveredBytes === size;
  } catch {
    return false;
  }
}

function safeReadCatalog(dir: string, log: (m: string) => void): TopicCatalog | null {
  try {
    return readCatalog(catalogPath(dir));
  } catch (err) {
    log(`ignoring unreadable ${catalogPath(dir)}: ${(err as Error).message}`);
    return null;
  }
}
