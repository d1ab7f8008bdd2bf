import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  CATALOG_MAGIC,
  INDEX_MAGIC,
  SegmentIndex,
  catalogSegmentFileName,
  decodeCatalog,
  type IndexEntry,
  type SegmentIndexSummary,
  type TopicCatalog,
} from "@lance/index";
import { LanceError, isLanceError } from "@lance/segment-format";
import { formatBytes, formatRange, formatTimestamp, table, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { requireFile } from "./paths.js";

export interface InspectIndexOptions {
  path: string;
  limit?: number;
  json?: boolean;
}

type Inspection =
  | { kind: "segment-index"; path: string; crcOk: true; summary: SegmentIndexSummary; entries: readonly IndexEntry[]; segment: SegmentFileCheck }
  | { kind: "topic-catalog"; path: string; crcOk: true; catalog: TopicCatalog; files: CatalogFileCheck[] }
  | { kind: "segment-index" | "topic-catalog"; path: string; crcOk: false; error: string };

interface SegmentFileCheck {
  file: string;
  present: boolean;
  sizeBytes: number | null;
  /** Share of the segment's bytes the index covers, 0..1. */
  coverage: number | null;
}

interface CatalogFileCheck {
  file: string;
  present: boolean;
  sizeBytes: number | null;
  sizeMatches: boolean | null;
}

export function inspectIndex(path: string): Inspection {
  requireFile(path, "index");
  const bytes = readFileSync(path);
  const magic = bytes.byteLength >= 4 ? bytes.readUInt32LE(0) : 0;
  if (magic === INDEX_MAGIC) {
    try {
      const idx = SegmentIndex.decode(bytes, path);
      const file = join(dirname(path), basename(path).replace(/\.idx$/, ".lnc"));
      const present = existsSync(file);
      const size = present ? statSync(file).size : null;
      return {
        kind: "segment-index", path, crcOk: true, summary: idx.summary, entries: idx.entries,
        segment: { file, present, sizeBytes: size, coverage: size ? Math.min(1, idx.summary.coveredBytes / size) : null },
      };
    } catch (err) {
      if (!isLanceError(err)) throw err;
      return { kind: "segment-index", path, crcOk: false, error: err.message };
    }
  }
  if (magic === CATALOG_MAGIC) {
    try {
      const catalog = decodeCatalog(bytes, path);
      const files = catalog.entries.flatMap((e) => {
        if (e.kind !== "segment") return [];
        const file = join(dirname(path), catalogSegmentFileName(e));
        const present = existsSync(file);
        const size = present ? statSync(file).size : null;
        return [{ file, present, sizeBytes: size, sizeMatches: size === null ? null : e.state === "closed" ? size === e.sizeBytes : size >= e.sizeBytes }];
      });
      return { kind: "topic-catalog", path, crcOk: true, catalog, files };
    } catch (err) {
      if (!isLanceError(err)) throw err;
      return { kind: "topic-catalog", path, crcOk: false, error: err.message };
    }
  }
  throw new LanceError("LNC_BAD_MAGIC", `${path} is not a LANCE index: expected a segment index ("LNCX") or a topic catalog index.idx ("LNCT")`);
}

export function runInspectIndex(opts: InspectIndexOptions, io: CommandIO): number {
  const r = inspectIndex(opts.path);
  io.out(opts.json ? toJson(r) : renderInspection(r, opts.limit ?? 20));
  if (!r.crcOk) return EXIT_PROBLEM;
  const filesOk = r.kind === "topic-catalog" ? r.files.every((f) => f.present && f.sizeMatches) : r.segment.present;
  return filesOk ? EXIT_OK : EXIT_PROBLEM;
}

function renderInspection(r: Inspection, limit: number): string {
  if (!r.crcOk) {
    return [`${r.kind === "segment-index" ? "Segment index" : "Topic catalog"}: ${r.path}`, `  CRC status:  BAD`, `  Error:       ${r.error}`].join("\n");
  }
  if (r.kind === "segment-index") {
    const s = r.summary;
    const seg = r.segment;
    const lines = [
      `Segment index: ${r.path}`,
      `  CRC status:    OK`,
      `  Segment:       ${seg.present ? `${basename(seg.file)} (${seg.sizeBytes} bytes)` : `${basename(seg.file)} MISSING`}`,
      `  Base offset:   ${s.baseOffset}`,
      `  Covers:        bytes 0..${s.coveredBytes}${seg.coverage === null ? "" : ` (${(seg.coverage * 100).toFixed(1)}% of the segment)`}, ${s.batchCount} batches, offsets ${formatRange(s.baseOffset, s.nextOffset)}`,
      `  Time range:    ${s.batchCount ? `${formatTimestamp(s.minTimestampNs)} .. ${formatTimestamp(s.maxTimestampNs)}` : "(empty)"}`,
      `  Interval:      one entry per ${s.intervalBytes} bytes`,
      `  Entries:       ${r.entries.length}`,
    ];
    const shown = limit === 0 ? r.entries : r.entries.slice(0, limit);
    if (shown.length) {
      lines.push(table([["    #", "OFFSET", "POSITION", "MAX TIMESTAMP"], ...shown.map((e, i) => [`    ${i}`, String(e.offset), String(e.position), formatTimestamp(e.maxTimestampNs)])]));
      if (shown.length < r.entries.length) lines.push(`    ... ${r.entries.length - shown.length} more (--limit 0 for all)`);
    }
    return lines.join("\n");
  }
  const c = r.catalog;
  const segs = c.entries.filter((e) => e.kind === "segment");
  const covered = segs.reduce((n, e) => n + (e.nextOffset - e.baseOffset), 0);
  const span = c.nextOffset - c.logStartOffset;
  const lines = [
    `Topic catalog: ${r.path}`,
    `  CRC status:    OK`,
    `  Built:         ${formatTimestamp(c.builtNs)}`,
    `  Offsets:       ${formatRange(c.logStartOffset, c.nextOffset)} (next offset ${c.nextOffset})`,
    `  Segments:      ${segs.length}, ${formatBytes(segs.reduce((n, e) => n + e.sizeBytes, 0))}`,
    `  Gaps:          ${c.entries.length - segs.length}`,
    `  Coverage:      ${span > 0 ? `${covered} of ${span} offsets in segments (${((covered / span) * 100).toFixed(1)}%)` : "(empty topic)"}`,
    "",
  ];
  const files = new Map(r.files.map((f) => [basename(f.file), f]));
  const rows = c.entries.map((e) => {
    if (e.kind === "gap") return [`  gap (${e.reason})`, "", formatRange(e.from, e.to), "", "", "", ""];
    const name = catalogSegmentFileName(e);
    const f = files.get(name)!;
    const status = !f.present ? "MISSING" : f.sizeMatches ? "ok" : `SIZE ${f.sizeBytes} != ${e.sizeBytes}`;
    return [`  ${name}`, e.state, formatRange(e.baseOffset, e.nextOffset), String(e.batchCount), String(e.sizeBytes), `${formatTimestamp(e.minTimestampNs)} .. ${formatTimestamp(e.maxTimestampNs)}`, status];
  });
  lines.push(table([["  ENTRY", "STATE", "OFFSETS", "BATCHES", "BYTES", "TIME RANGE", "FILE"], ...rows]));
  return lines.join("\n");
}
