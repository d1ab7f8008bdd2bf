import { existsSync, readdirSync } from "node:fs";
import { dirname } from "node:path";
import { rebuildTopicIndexes, type RebuildReport } from "@lance/index";
import { LanceError, repairSegmentFile, type RepairMode, type SegmentRepairResult } from "@lance/segment-format";
import { formatRange, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { requireFile } from "./paths.js";

export interface RepairSegmentOptions {
  path: string;
  dryRun?: boolean;
  skipCorrupt?: boolean;
  truncateAtDamage?: boolean;
  json?: boolean;
}

export interface SegmentRepairReport extends SegmentRepairResult {
  dryRun: boolean;
  /** Indexes rebuilt after the segment changed (its topic's `.idx` files and index.idx). */
  reindexed: RebuildReport | null;
}

export function repairMode(opts: { skipCorrupt?: boolean; truncateAtDamage?: boolean }): RepairMode {
  if (opts.skipCorrupt && opts.truncateAtDamage) {
    throw new LanceError("LNC_BAD_ARGUMENT", "choose one of --skip-corrupt (keep valid batches after the damage) and --truncate-at-damage (drop them)");
  }
  return opts.skipCorrupt ? "skip-corrupt" : opts.truncateAtDamage ? "truncate-at-damage" : "tail";
}

export function repairSegment(opts: RepairSegmentOptions): SegmentRepairReport {
  requireFile(opts.path, "segment");
  const dryRun = Boolean(opts.dryRun);
  const result = repairSegmentFile(opts.path, repairMode(opts), { dryRun });
  const changed = !dryRun && (result.action === "truncate" || result.action === "rewrite");
  const dir = dirname(opts.path);
  const isTopicDir = existsSync(`${dir}/metadata.json`) || readdirSync(dir).some((f) => f.endsWith(".idx"));
  return { ...result, dryRun, reindexed: changed && isTopicDir ? rebuildTopicIndexes(dir) : null };
}

export function runRepairSegment(opts: RepairSegmentOptions, io: CommandIO): number {
  const r = repairSegment(opts);
  io.out(opts.json ? toJson(r) : renderSegmentRepair(r));
  return r.action === "refuse" ? EXIT_PROBLEM : EXIT_OK;
}

export function renderSegmentRepair(r: SegmentRepairReport): string {
  const verb = r.dryRun ? "would" : "did";
  const lines = [`Segment: ${r.path}${r.dryRun ? "  (dry run: nothing changed)" : ""}`];
  for (const p of r.problems) lines.push(`  found:    ${p.kind} at byte ${p.position} (${p.length} bytes): ${p.message}`);
  switch (r.action) {
    case "none":
      lines.push("  Segment is intact; nothing to repair.");
      break;
    case "refuse":
      lines.push(`  REFUSED: ${r.reason}`);
      break;
    default:
      lines.push(
        `  action:   ${r.dryRun ? "would " : ""}${r.reason}`,
        `  size:     ${r.fileSize} -> ${r.newSize} bytes (${r.droppedBytes} bytes dropped)`,
        `  kept:     ${r.keptBatches} batches, ${r.keptRecords} records, offsets ${formatRange(r.firstOffset, r.nextOffset)}`,
      );
      if (r.droppedValidBatches > 0) lines.push(`  dropped:  ${r.droppedValidBatches} valid batches (${r.droppedValidRecords} records) after the damage`);
      if (r.backupPath) lines.push(`  backup:   ${r.backupPath} (${r.action === "truncate" ? "the cut bytes" : "the original file"})`);
      if (r.reindexed) lines.push(`  indexes:  rebuilt ${r.reindexed.segments.length} segment indexes and ${r.reindexed.catalogFile}`);
      if (!r.dryRun && !r.reindexed) lines.push(`  next:     lnc rebuild-index --path ${dirname(r.path)}`);
      lines.push(`  ${verb === "would" ? "Run without --dry-run to apply." : "Repaired."}`);
  }
  return lines.join("\n");
}

