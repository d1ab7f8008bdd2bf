import { basename } from "node:path";
import { parseSegmentName, scanSegmentFile, type BatchInfo, type SegmentScan } from "@lance/segment-format";
import { formatBytes, formatRange, formatTimestamp, table, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { byteProgress } from "../progress.js";
import { requireFile } from "./paths.js";

export interface ScanOptions {
  path: string;
  /** Batches to list; 0 lists all. */
  limit?: number;
  json?: boolean;
}

export interface ScanReport extends SegmentScan {
  path: string;
  /** Last offset of the undamaged prefix: what survives `lnc repair`. */
  lastValidOffset: number | null;
  /** The first `limit` valid batches (CRC checked). */
  batches: BatchInfo[];
  batchesListed: number;
}

export function scanReport(path: string, limit: number, onProgress?: (done: number, total: number) => void): ScanReport {
  const name = parseSegmentName(basename(path));
  const batches: BatchInfo[] = [];
  const scan = scanSegmentFile(path, {
    ...(name ? { baseOffset: name.baseOffset } : {}),
    onBatch: (b) => {
      if (limit === 0 || batches.length < limit) batches.push(b);
    },
    ...(onProgress ? { onProgress } : {}),
  });
  const lastValidOffset = scan.prefixNextOffset !== null && scan.prefixBatchCount > 0 ? scan.prefixNextOffset - 1 : null;
  return { path, ...scan, lastValidOffset, batches, batchesListed: batches.length };
}

export function runScan(opts: ScanOptions, io: CommandIO): number {
  requireFile(opts.path, "segment");
  const limit = opts.limit ?? 20;
  const progress = byteProgress(io, "scanning", !opts.json);
  const r = scanReport(opts.path, limit, progress.update);
  progress.stop();
  io.out(opts.json ? toJson(r) : renderScan(r));
  return r.ok ? EXIT_OK : EXIT_PROBLEM;
}

export function renderScan(r: ScanReport): string {
  const lines = [
    `Segment: ${r.path}`,
    `  Format:        ${r.header ? `LANCE segment v${r.header.version}, base offset ${r.header.baseOffset}, created ${formatTimestamp(r.header.createdNs)}` : "header damaged or missing"}`,
    `  Size:          ${r.fileSize} bytes (${formatBytes(r.fileSize)})`,
    `  Batches:       ${r.batchCount} valid`,
    `  Records:       ${r.recordCount}`,
    `  Offset range:  ${formatRange(r.firstOffset, r.nextOffset)}`,
    `  Time range:    ${formatTimestamp(r.minTimestampNs)} .. ${formatTimestamp(r.maxTimestampNs)}`,
    `  CRC status:    ${r.ok ? "all batches OK" : `${r.problems.length} damaged region(s)`}`,
  ];
  for (const g of r.gaps) lines.push(`  Offset gap:    ${g.from}..${g.to - 1} (no batch holds these offsets)`);
  lines.push("");
  const rows: { position: number; row: string[] }[] = r.batches.map((b) => ({
    position: b.position,
    row: [String(b.position), formatRange(b.baseOffset, b.nextOffset), String(b.recordCount), String(b.size), formatTimestamp(b.lastTimestampNs), "OK"],
  }));
  for (const p of r.problems) {
    rows.push({ position: p.position, row: [String(p.position), "-", "-", String(p.length), "-", `BAD ${p.kind}`] });
  }
  rows.sort((a, b) => a.position - b.position);
  const shown = r.batchesListed < r.batchCount ? ` (first ${r.batchesListed} of ${r.batchCount} batches, --limit 0 for all)` : "";
  lines.push(`Batches${shown}:`);
  lines.push(table([["  POSITION", "OFFSETS", "RECORDS", "BYTES", "NEWEST TIMESTAMP", "CRC"], ...rows.map((x) => ["  " + x.row[0], ...x.row.slice(1)])]));
  if (r.problems.length > 0) {
    lines.push("", "Problems:");
    for (const p of r.problems) lines.push(`  ${p.code} ${p.kind} at byte ${p.position} (${p.length} bytes): ${p.message}`);
    lines.push(
      "",
      r.lastValidOffset === null ? "No valid batch before the damage." : `Last valid offset before the damage: ${r.lastValidOffset} (byte ${r.validPrefixBytes})`,
      r.damageAtTailOnly
        ? `The damage is at the tail: lnc repair --path ${r.path} truncates it.`
        : r.batchCount > r.prefixBatchCount
          ? `Valid batches follow the damage: lnc repair --path ${r.path} --skip-corrupt keeps them (leaves an offset gap).`
          : `No valid batch in the file: it is not a LANCE v1 segment (upstream v0 segments have no header) or it is destroyed; quarantine it (runbook 4.2).`,
    );
  }
  return lines.join("\n");
}
