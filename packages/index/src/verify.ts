import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  SEGMENT_INDEX_EXT,
  TOPIC_CATALOG_FILE,
  isLanceError,
  listTopicSegments,
  readTopicMetadata,
  scanSegmentFile,
  type LanceErrorCode,
  type SegmentName,
  type SegmentScan,
} from "@lance/segment-format";
import { readCatalog, type CatalogSegment, type TopicCatalog } from "./catalog.js";
import { SegmentIndex, SegmentIndexBuilder, type IndexEntry } from "./segment-index.js";
import { catalogPath, quarantinedBases, segmentIndexPath } from "./topic-paths.js";

export interface VerifyIssue {
  severity: "error" | "warning";
  code: LanceErrorCode;
  /** The file the issue is in. */
  file: string;
  /** Byte position in `file`, when the issue has one. */
  position?: number;
  message: string;
}

export interface VerifiedSegment {
  file: string;
  sizeBytes: number;
  state: "active" | "closed";
  batches: number;
  records: number;
  firstOffset: number | null;
  nextOffset: number | null;
  ok: boolean;
}

export interface VerifyReport {
  topicDir: string;
  segments: VerifiedSegment[];
  issues: VerifyIssue[];
  totals: { segments: number; batches: number; records: number; bytes: number; errors: number; warnings: number };
  /** True when verification stopped at the first error (--fail-fast). */
  stoppedEarly: boolean;
  ok: boolean;
}

export interface VerifyOptions {
  failFast?: boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

class StopEarly extends Error {}

/**
 * Checks every segment (every batch CRC, offsets, names), every `.idx` and the topic catalog
 * against the segments. Errors mean data or an index is wrong; warnings are known, tolerated
 * states (offset gaps, an active segment's index that trails it).
 */
export function verifyTopic(topicDir: string, options: VerifyOptions = {}): VerifyReport {
  const report: VerifyReport = {
    topicDir,
    segments: [],
    issues: [],
    totals: { segments: 0, batches: 0, records: 0, bytes: 0, errors: 0, warnings: 0 },
    stoppedEarly: false,
    ok: false,
  };
  const add = (issue: VerifyIssue) => {
    report.issues.push(issue);
    if (issue.severity === "error") {
      report.totals.errors++;
      if (options.failFast) throw new StopEarly();
    } else report.totals.warnings++;
  };
  try {
    verifyInto(topicDir, options, report, add);
  } catch (err) {
    if (!(err instanceof StopEarly)) throw err;
    report.stoppedEarly = true;
  }
  report.ok = report.totals.errors === 0;
  return report;
}

function verifyInto(topicDir: string, options: VerifyOptions, report: VerifyReport, add: (i: VerifyIssue) => void): void {
  if (!existsSync(topicDir)) {
    add({ severity: "error", code: "LNC_NOT_FOUND", file: topicDir, message: `topic directory ${topicDir} does not exist (lnc list-topics --path <data_dir> shows the topics)` });
    return;
  }
  try {
    readTopicMetadata(topicDir);
  } catch (err) {
    if (!isLanceError(err)) throw err;
    add({ severity: "error", code: err.code, file: join(topicDir, "metadata.json"), message: err.message });
  }
  const { segments, strays } = listTopicSegments(topicDir);
  for (const f of strays) {
    add({ severity: "warning", code: "LNC_BAD_FILE_NAME", file: join(topicDir, f), message: `not named {base}_{ts}.lnc; ignored by the server` });
  }
  const catalog = loadCatalog(topicDir, add);
  const quarantined = quarantinedBases(topicDir);
  const total = segments.reduce((n, s) => n + statSync(join(topicDir, s.fileName)).size, 0);
  let done = 0;
  let prevEnd: number | null = null;
  segments.forEach((seg, i) => {
    const path = join(topicDir, seg.fileName);
    const isLast = i === segments.length - 1;
    const builder = new SegmentIndexBuilder(seg.baseOffset, existingInterval(topicDir, seg));
    const scan = scanSegmentFile(path, {
      baseOffset: seg.baseOffset,
      onBatch: (b, inPrefix) => inPrefix && builder.add(b),
      onProgress: (pos) => options.onProgress?.(done + pos, total),
    });
    done += scan.fileSize;
    report.segments.push({
      file: path, sizeBytes: scan.fileSize, state: seg.closedNs === null ? "active" : "closed", batches: scan.batchCount,
      records: scan.recordCount, firstOffset: scan.firstOffset, nextOffset: scan.nextOffset, ok: scan.ok,
    });
    report.totals.segments++;
    report.totals.batches += scan.batchCount;
    report.totals.records += scan.recordCount;
    report.totals.bytes += scan.fileSize;

    for (const p of scan.problems) {
      const hint = p.kind === "bad_segment_header" && p.message.includes("not a LANCE v1 segment")
        ? " (upstream v0 segments have no header and cannot be read as v1 data)"
        : `; run lnc repair --path ${path}`;
      add({ severity: "error", code: p.code, file: path, position: p.position, message: `${p.kind}: ${p.message}${hint}` });
    }
    if (scan.header && scan.header.baseOffset !== seg.baseOffset) {
      add({ severity: "error", code: "LNC_BAD_FILE_NAME", file: path, position: 8, message: `header base offset ${scan.header.baseOffset} differs from the file name's ${seg.baseOffset}` });
    }
    for (const g of scan.gaps) {
      add({ severity: "warning", code: "LNC_OFFSET_GAP", file: path, message: `offsets ${g.from}..${g.to - 1} are not in this segment (a gap inside it)` });
    }
    if (seg.closedNs === null && !isLast) {
      add({ severity: "warning", code: "LNC_ACTIVE_NOT_LAST", file: path, message: `active segment is not the newest one; the server closes it on start` });
    }
    const first = scan.firstOffset ?? seg.baseOffset;
    if (prevEnd !== null && first < prevEnd) {
      add({ severity: "error", code: "LNC_OFFSET_REGRESSION", file: path, message: `starts at offset ${first}, but the previous segment ends at ${prevEnd - 1}: overlapping segments` });
    } else if (prevEnd !== null && seg.baseOffset > prevEnd) {
      const why = quarantined.some((b) => b >= prevEnd! && b < seg.baseOffset) ? "quarantined segment" : "no segment holds them";
      add({ severity: "warning", code: "LNC_OFFSET_GAP", file: path, message: `offsets ${prevEnd}..${seg.baseOffset - 1} before this segment are a gap (${why}); consumers skip them` });
    }
    prevEnd = Math.max(prevEnd ?? 0, scan.nextOffset ?? seg.baseOffset);

    // A damaged segment's index and catalog entry disagree with it by necessity; the damage
    // itself is the one thing to report (repair, then rebuild-index).
    if (scan.ok) {
      checkSegmentIndex(topicDir, seg, scan, builder, add);
      if (catalog) checkCatalogEntry(topicDir, seg, scan, builder, catalog, add);
    }
  });
  const stems = new Set(segments.map((s) => s.stem));
  for (const f of readdirSync(topicDir)) {
    if (f.endsWith(SEGMENT_INDEX_EXT) && f !== TOPIC_CATALOG_FILE && !stems.has(f.slice(0, -SEGMENT_INDEX_EXT.length))) {
      add({ severity: "warning", code: "LNC_INDEX_ORPHAN", file: join(topicDir, f), message: `index of a segment that is not here; lnc rebuild-index --path ${topicDir} removes it` });
    }
  }
  if (catalog) {
    const names = new Set(segments.map((s) => `${s.baseOffset}_${s.createdNs}`));
    for (const e of catalog.entries) {
      if (e.kind === "segment" && !names.has(`${e.baseOffset}_${e.createdNs}`)) {
        add({ severity: "error", code: "LNC_INDEX_STALE", file: catalogPath(topicDir), message: `lists segment ${e.baseOffset}_${e.createdNs} (offsets ${e.baseOffset}..${e.nextOffset - 1}) which is not in the topic directory; run lnc rebuild-index --path ${topicDir}` });
      }
    }
  }
}

function loadCatalog(topicDir: string, add: (i: VerifyIssue) => void): TopicCatalog | null {
  const file = catalogPath(topicDir);
  if (!existsSync(file)) {
    add({ severity: "warning", code: "LNC_INDEX_MISSING", file, message: `topic catalog is missing; run lnc rebuild-index --path ${topicDir}` });
    return null;
  }
  try {
    return readCatalog(file);
  } catch (err) {
    if (!isLanceError(err)) throw err;
    add({ severity: "error", code: err.code, file, message: err.message });
    return null;
  }
}

function existingInterval(topicDir: string, seg: SegmentName): number | undefined {
  try {
    return SegmentIndex.load(segmentIndexPath(topicDir, seg.stem)).summary.intervalBytes;
  } catch {
    return undefined;
  }
}

function checkSegmentIndex(topicDir: string, seg: SegmentName, scan: SegmentScan, expected: SegmentIndexBuilder, add: (i: VerifyIssue) => void): void {
  const file = segmentIndexPath(topicDir, seg.stem);
  const rebuild = `run lnc rebuild-index --path ${topicDir}`;
  if (!existsSync(file)) {
    const active = seg.closedNs === null;
    add({ severity: active ? "warning" : "error", code: "LNC_INDEX_MISSING", file, message: `index of ${active ? "the active" : "a closed"} segment is missing (reads fall back to a scan); ${rebuild}` });
    return;
  }
  let index: SegmentIndex;
  try {
    index = SegmentIndex.load(file);
  } catch (err) {
    if (!isLanceError(err)) throw err;
    add({ severity: "error", code: err.code, file, message: err.message });
    return;
  }
  const s = index.summary;
  const stale = (why: string) => add({ severity: "error", code: "LNC_INDEX_STALE", file, message: `disagrees with ${seg.fileName}: ${why}; ${rebuild}` });
  if (s.baseOffset !== seg.baseOffset) return stale(`base offset ${s.baseOffset}, segment ${seg.baseOffset}`);
  if (s.coveredBytes > scan.validPrefixBytes) {
    return stale(`covers ${s.coveredBytes} bytes, the segment has ${scan.validPrefixBytes} valid bytes (truncated or damaged since it was indexed)`);
  }
  const want = expected.entries.filter((e) => e.position < s.coveredBytes);
  const mismatch = firstMismatch(index.entries, want);
  if (mismatch !== null) return stale(`entry ${mismatch} does not point at the batch the segment has there`);
  if (s.coveredBytes < scan.validPrefixBytes) {
    if (seg.closedNs !== null) return stale(`covers ${s.coveredBytes} of ${scan.validPrefixBytes} bytes of a closed segment`);
    add({ severity: "warning", code: "LNC_INDEX_STALE", file, message: `covers ${s.coveredBytes} of ${scan.validPrefixBytes} bytes of the active segment (the rest is found by scan)` });
  }
}

function firstMismatch(have: readonly IndexEntry[], want: readonly IndexEntry[]): number | null {
  const n = Math.max(have.length, want.length);
  for (let i = 0; i < n; i++) {
    const a = have[i];
    const b = want[i];
    if (!a || !b || a.offset !== b.offset || a.position !== b.position || a.maxTimestampNs !== b.maxTimestampNs) return i;
  }
  return null;
}

function checkCatalogEntry(topicDir: string, seg: SegmentName, scan: SegmentScan, built: SegmentIndexBuilder, catalog: TopicCatalog, add: (i: VerifyIssue) => void): void {
  const file = catalogPath(topicDir);
  const entry = catalog.entries.find((e): e is CatalogSegment => e.kind === "segment" && e.baseOffset === seg.baseOffset && e.createdNs === seg.createdNs);
  const fix = `run lnc rebuild-index --path ${topicDir}`;
  if (!entry) {
    // The server adds the active segment to the catalog when it rotates or checkpoints.
    const active = seg.closedNs === null;
    add({ severity: active ? "warning" : "error", code: "LNC_INDEX_STALE", file, message: `does not list segment ${seg.fileName}; ${fix}` });
    return;
  }
  const actualNext = built.state.nextOffset;
  if (seg.closedNs !== null) {
    if (entry.state !== "closed" || entry.nextOffset !== actualNext || entry.sizeBytes !== scan.fileSize) {
      add({ severity: "error", code: "LNC_INDEX_STALE", file, message: `entry for ${seg.fileName} says offsets ${entry.baseOffset}..${entry.nextOffset - 1}, ${entry.sizeBytes} bytes; the segment has offsets up to ${actualNext - 1}, ${scan.fileSize} bytes; ${fix}` });
    }
  } else if (entry.nextOffset > actualNext || entry.sizeBytes > scan.fileSize) {
    add({ severity: "error", code: "LNC_INDEX_STALE", file, message: `entry for the active segment ${seg.fileName} claims offsets up to ${entry.nextOffset - 1}, but the segment ends at ${actualNext - 1}: records the catalog knew about are gone; ${fix}` });
  }
}
