import { repairWal, scanWalFile, type WalFileScan, type WalRepairReport } from "@lance/wal";
import { table, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";

/** `lnc scan --path <wal file>`: every frame with its CRC status, and where the log ends. */
export function runScanWal(opts: { path: string; limit?: number; json?: boolean }, io: CommandIO): number {
  const scan = scanWalFile(opts.path);
  const limit = opts.limit ?? 20;
  const shown = limit === 0 ? scan.records : scan.records.slice(0, limit);
  io.out(opts.json ? toJson({ ...scan, records: shown, recordsListed: shown.length }) : renderWalScan(scan, shown));
  return scan.ok ? EXIT_OK : EXIT_PROBLEM;
}

function renderWalScan(s: WalFileScan, shown: WalFileScan["records"]): string {
  const lines = [
    `WAL file: ${s.path}`,
    `  Size:          ${s.size} bytes`,
    `  Header:        ${s.header ? `ok (epoch ${s.header.epoch}, first index ${s.header.firstIndex})` : `BAD: ${s.headerProblem}`}`,
    `  Entries:       ${s.entryCount}${s.firstIndex === null ? "" : `, indexes ${s.firstIndex}..${s.lastIndex}`}`,
    `  Log ends at:   byte ${s.end.offset} (${s.end.kind}: ${s.end.reason})`,
    `  CRC status:    ${s.ok ? "all frames OK" : `${s.problems.length} damaged region(s)`}`,
    "",
  ];
  const rows = shown.map((r) => [`  ${r.offset}`, r.kind, String(r.index), String(r.term), String(r.payloadLength), r.crc === "ok" ? "OK" : "BAD crc"]);
  lines.push(`Frames${shown.length < s.records.length ? ` (first ${shown.length} of ${s.records.length}, --limit 0 for all)` : ""}:`);
  lines.push(table([["  OFFSET", "KIND", "INDEX", "TERM", "BYTES", "CRC"], ...rows]));
  if (s.problems.length) {
    lines.push("", "Problems:");
    for (const p of s.problems) lines.push(`  byte ${p.offset} (${p.bytes} bytes): ${p.reason}`);
  }
  return lines.join("\n");
}

/** `lnc repair --path <wal dir> [--skip-corrupt] [--dry-run]` (runbook 2.3). */
export function runRepairWal(opts: { path: string; skipCorrupt?: boolean; dryRun?: boolean; json?: boolean }, io: CommandIO): number {
  const r = repairWal(opts.path, { skipCorrupt: Boolean(opts.skipCorrupt), dryRun: Boolean(opts.dryRun) });
  io.out(opts.json ? toJson(r) : renderWalRepair(r));
  return EXIT_OK;
}

function renderWalRepair(r: WalRepairReport): string {
  const lines = [`WAL: ${r.dir}${r.dryRun ? "  (dry run: nothing changed)" : ""}`, `  found:    ${r.status}`];
  for (const d of r.damages) lines.push(`  damage:   ${d.file} at byte ${d.offset} (${d.bytes} bytes): ${d.reason}`);
  if (r.tornTail && r.tornTail.kind === "torn") lines.push(`  torn:     ${r.tornTail.file} at byte ${r.tornTail.offset} (${r.tornTail.bytes} bytes): ${r.tornTail.reason}`);
  if (r.action === "none") {
    lines.push("  The WAL is intact; nothing to repair.");
    return lines.join("\n");
  }
  const verb = r.dryRun ? "would keep" : "kept";
  lines.push(
    `  mode:     ${r.mode === "skip-corrupt" ? "skip-corrupt: damaged regions skipped, valid entries after them kept" : "truncate at the first damage"}`,
    `  ${verb}:  ${r.keptEntries === 0 ? "no entries after the checkpoint" : `${r.keptEntries} entries (indexes ${r.firstIndex}..${r.lastIndex})`}`,
    `  dropped:  ${r.droppedEntries} valid entries, ${r.droppedBytes} bytes`,
  );
  for (const h of r.holes) lines.push(`  hole:     indexes ${h.from}..${h.to} lost; the server logs them on replay and their offsets stay a gap`);
  if (r.backupDir) lines.push(`  backup:   ${r.backupDir} (the original WAL${r.dryRun ? " would be moved there" : ""})`);
  if (r.action === "finished-interrupted") lines.push("  An interrupted earlier repair was completed.");
  lines.push(r.dryRun ? "  Run without --dry-run to apply." : "  Repaired. Start the server.");
  return lines.join("\n");
}
