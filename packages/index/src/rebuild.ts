import { existsSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { SEGMENT_INDEX_EXT, TOPIC_CATALOG_FILE, isLanceError, listTopicSegments, nowNs, scanSegmentFile, type ScanProblem, type SegmentName } from "@lance/segment-format";
import { readCatalog, writeCatalog, type CatalogEntry, type CatalogGap, type CatalogSegment, type TopicCatalog } from "./catalog.js";
import { SegmentIndexBuilder, DEFAULT_INDEX_INTERVAL_BYTES, type SegmentIndexSummary } from "./segment-index.js";
import { catalogPath, quarantinedBases, segmentIndexPath } from "./topic-paths.js";

export interface RebuiltSegment {
  file: string;
  indexFile: string;
  batches: number;
  records: number;
  baseOffset: number;
  nextOffset: number;
  entries: number;
  sizeBytes: number;
  /** Damage found; the index then covers only the batches before the first problem. */
  problems: ScanProblem[];
}

export interface RebuildReport {
  topicDir: string;
  catalogFile: string;
  segments: RebuiltSegment[];
  catalog: TopicCatalog;
  gaps: CatalogGap[];
  /** Segment indexes whose segment is gone (quarantined, deleted); removed. */
  removedOrphans: string[];
  /** Things an operator should look at; the rebuild still completed. */
  warnings: string[];
}

export interface RebuildOptions {
  intervalBytes?: number;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

/**
 * Rebuilds every `{stem}.idx` and the topic's `index.idx` from the segment files alone.
 * Offsets are never reused: a previous catalog's end offset is kept, and offsets that no
 * segment holds any more are recorded as gaps.
 */
export function rebuildTopicIndexes(topicDir: string, options: RebuildOptions = {}): RebuildReport {
  const interval = options.intervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES;
  const { segments, strays } = listTopicSegments(topicDir);
  const warnings = strays.map((f) => `${join(topicDir, f)} ends in .lnc but is not named {base}_{ts}.lnc; ignored`);
  const previous = readPreviousCatalog(topicDir, warnings);

  const total = segments.reduce((n, s) => n + statSync(join(topicDir, s.fileName)).size, 0);
  let done = 0;
  const rebuilt: RebuiltSegment[] = [];
  const entries: CatalogSegment[] = [];
  const inSegmentGaps: CatalogGap[] = [];
  for (const seg of segments) {
    const path = join(topicDir, seg.fileName);
    const builder = new SegmentIndexBuilder(seg.baseOffset, interval);
    const scan = scanSegmentFile(path, {
      baseOffset: seg.baseOffset,
      onBatch: (b, inPrefix) => {
        // Index only the undamaged prefix: readers walk batch headers forward from an entry.
        if (!inPrefix) return;
        builder.add(b);
      },
      onProgress: (pos) => options.onProgress?.(done + pos, total),
    });
    done += scan.fileSize;
    const indexFile = segmentIndexPath(topicDir, seg.stem);
    builder.writeTo(indexFile);
    const st = builder.state;
    if (scan.problems.length > 0) {
      warnings.push(`${path} is damaged at byte ${scan.problems[0]!.position} (${scan.problems[0]!.kind}: ${scan.problems[0]!.message}); indexed the ${st.batchCount} batches before it. Run lnc repair --path ${path}`);
    }
    if (scan.header && scan.header.baseOffset !== seg.baseOffset) {
      warnings.push(`${path}: header says base offset ${scan.header.baseOffset}, the file name says ${seg.baseOffset}`);
    }
    for (const g of scan.gaps) if (g.to <= st.nextOffset) inSegmentGaps.push({ kind: "gap", reason: "in-segment", from: g.from, to: g.to });
    rebuilt.push({
      file: path, indexFile, batches: st.batchCount, records: scan.prefixRecordCount, baseOffset: seg.baseOffset, nextOffset: st.nextOffset,
      entries: builder.entries.length, sizeBytes: scan.fileSize, problems: scan.problems,
    });
    entries.push(catalogSegmentOf(seg, st, scan.fileSize, true));
  }

  const catalog = assembleCatalog(topicDir, entries, inSegmentGaps, previous, warnings);
  const file = catalogPath(topicDir);
  writeCatalog(file, catalog);
  const removedOrphans = removeOrphanIndexes(topicDir, new Set(segments.map((s) => s.stem)));
  return { topicDir, catalogFile: file, segments: rebuilt, catalog, gaps: catalog.entries.filter((e): e is CatalogGap => e.kind === "gap"), removedOrphans, warnings };
}

function removeOrphanIndexes(topicDir: string, stems: Set<string>): string[] {
  const removed: string[] = [];
  for (const f of readdirSync(topicDir)) {
    if (!f.endsWith(SEGMENT_INDEX_EXT) || f === TOPIC_CATALOG_FILE || stems.has(f.slice(0, -SEGMENT_INDEX_EXT.length))) continue;
    unlinkSync(join(topicDir, f));
    removed.push(join(topicDir, f));
  }
  return removed;
}

export function catalogSegmentOf(seg: SegmentName, s: SegmentIndexSummary, size: number, hasIndex: boolean): CatalogSegment {
  return {
    kind: "segment",
    state: seg.closedNs === null ? "active" : "closed",
    hasIndex,
    baseOffset: seg.baseOffset,
    nextOffset: s.nextOffset,
    createdNs: seg.createdNs,
    closedNs: seg.closedNs,
    minTimestampNs: s.minTimestampNs,
    maxTimestampNs: s.maxTimestampNs,
    sizeBytes: size,
    batchCount: s.batchCount,
  };
}

function readPreviousCatalog(topicDir: string, warnings: string[]): TopicCatalog | null {
  const file = catalogPath(topicDir);
  if (!existsSync(file)) return null;
  try {
    return readCatalog(file);
  } catch (err) {
    if (!isLanceError(err, "LNC_INDEX_CORRUPT")) throw err;
    warnings.push(`previous ${file} was unreadable (${err.message}); offsets past the last segment cannot be protected from reuse`);
    return null;
  }
}

/** Orders segments and gaps, fills the gaps between segments, and keeps the previous log end. */
export function assembleCatalog(topicDir: string, segments: CatalogSegment[], extraGaps: CatalogGap[], previous: TopicCatalog | null, warnings: string[]): TopicCatalog {
  const quarantined = quarantinedBases(topicDir);
  const reasonFor = (from: number, to: number) => (quarantined.some((b) => b >= from && b < to) ? "quarantined" : "missing");
  const entries: CatalogEntry[] = [...extraGaps];
  let logStart = segments[0]?.baseOffset ?? previous?.logStartOffset ?? 0;
  if (previous && segments.length > 0 && previous.logStartOffset < logStart && reasonFor(previous.logStartOffset, logStart) === "quarantined") {
    entries.push({ kind: "gap", reason: "quarantined", from: previous.logStartOffset, to: logStart });
    logStart = previous.logStartOffset;
  }
  let end: number | null = null;
  for (const s of segments) {
    if (end !== null && s.baseOffset > end) entries.push({ kind: "gap", reason: reasonFor(end, s.baseOffset), from: end, to: s.baseOffset });
    if (end !== null && s.baseOffset < end) {
      warnings.push(`segment ${s.baseOffset}_${s.createdNs} starts at offset ${s.baseOffset}, inside the previous segment (which ends at ${end}): overlapping segments`);
    }
    entries.push(s);
    end = Math.max(end ?? 0, s.nextOffset);
  }
  let next = end ?? logStart;
  if (previous && previous.nextOffset > next) {
    if (segments.length > 0) entries.push({ kind: "gap", reason: reasonFor(next, previous.nextOffset), from: next, to: previous.nextOffset });
    next = previous.nextOffset;
  }
  entries.sort((a, b) => startOf(a) - startOf(b) || (a.kind === "gap" ? -1 : 1));
  return { builtNs: nowNs(), logStartOffset: logStart, nextOffset: next, entries };
}

function startOf(e: CatalogEntry): number {
  return e.kind === "segment" ? e.baseOffset : e.from;
}
