import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  LanceError,
  SegmentWriter,
  listTopicSegments,
  nowNs,
  parseSegmentName,
  repairSegmentFile,
  scanSegmentFile,
  type AppendedBatch,
  type BatchInput,
  type SegmentWriterOptions,
} from "@lance/segment-format";
import { readCatalog, writeCatalog, type CatalogGap, type CatalogSegment, type TopicCatalog } from "./catalog.js";
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

  /** One past the last offset assigned: the next append's base offset. */
  get nextOffset(): number {
    return this.next;
  }

  get activeSegmentPath(): string | null {
    return this.active?.path ?? null;
  }

  append(input: BatchInput): AppendedBatch {
    if (this.closed) throw new LanceError("LNC_CLOSED", `topic ${this.dir} is closed`);
    if (this.active?.shouldRotate(Number(this.clock() / 1_000_000n))) this.rotate();
    if (!this.active) {
      this.active = SegmentWriter.create(this.dir, this.next, this.clock(), this.opts);
      this.builder = new SegmentIndexBuilder(this.next, this.opts.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES);
    }
    const appended = this.active.append(input);
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
    const name = parseSegmentName(path.slice(this.dir.length + 1))!;
    this.builder.writeTo(segmentIndexPath(this.dir, name.stem));
    this.closedSegments.push(catalogSegmentOf(name, s, statSync(path).size, true));
    this.active = null;
    this.builder = null;
    this.writeCatalog();
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
    return { builtNs: this.clock(), logStartOffset: segments[0]?.baseOffset ?? this.logStartOffset, nextOffset: this.next, entries };
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
