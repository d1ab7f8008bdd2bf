import { existsSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";
import { rebuildTopicIndexes, type RebuildReport } from "@lance/index";
import { formatRange, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { byteProgress } from "../progress.js";
import { requireDir } from "./paths.js";

export interface RebuildIndexOptions {
  path: string;
  json?: boolean;
}

export function runRebuildIndex(opts: RebuildIndexOptions, io: CommandIO): number {
  // The runbook passes the topic directory; a segment path is taken to mean its topic.
  const dir = existsSync(opts.path) && statSync(opts.path).isFile() ? dirname(opts.path) : opts.path;
  requireDir(dir, "topic");
  const progress = byteProgress(io, "indexing", !opts.json);
  const report = rebuildTopicIndexes(dir, { onProgress: progress.update });
  progress.stop();
  io.out(opts.json ? toJson(report) : renderRebuild(report));
  return report.segments.some((s) => s.problems.length > 0) ? EXIT_PROBLEM : EXIT_OK;
}

export function renderRebuild(r: RebuildReport): string {
  const lines = [`Rebuilt indexes for ${r.topicDir}`];
  for (const s of r.segments) {
    lines.push(`  ${basename(s.indexFile)}  ${s.entries} entries, ${s.batches} batches, offsets ${formatRange(s.baseOffset, s.nextOffset)}${s.problems.length ? "  (segment damaged: indexed up to the damage)" : ""}`);
  }
  lines.push(`  ${basename(r.catalogFile)}  ${r.catalog.entries.length} entries: ${r.segments.length} segments, ${r.gaps.length} gaps, offsets ${formatRange(r.catalog.logStartOffset, r.catalog.nextOffset)}`);
  for (const g of r.gaps) lines.push(`  gap ${g.from}..${g.to - 1} (${g.reason}): consumers skip these offsets`);
  for (const f of r.removedOrphans) lines.push(`  removed ${basename(f)}: its segment is no longer in the topic directory`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join("\n");
}
