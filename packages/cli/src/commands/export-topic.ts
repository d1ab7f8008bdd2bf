import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { LanceError, isLanceError, readTopicMetadata, topicNameProblem, type TopicMetadata } from "@lance/segment-format";
import type { ArchiveManifest } from "../archive/format.js";
import { pinTopic } from "../archive/snapshot.js";
import { writeArchive } from "../archive/writer.js";
import { formatBytes, formatRange, formatTimestamp, toJson } from "../format.js";
import { EXIT_OK, type CommandIO } from "../io.js";
import { byteProgress } from "../progress.js";
import { requireDir } from "./paths.js";
import { resolveTopicDir } from "./topics.js";

export interface ExportTopicOptions {
  /** Data directory (holds segments/ and, on a deposed leader, divergent/). */
  path: string;
  topic: string;
  output: string;
  /** Export `{path}/divergent/{topic}/` (a deposed leader's unreplicated suffix) instead of the topic. */
  divergent?: boolean;
  json?: boolean;
}

export interface ExportReport {
  topic: string;
  source: string;
  output: string;
  format_version: number;
  /** The exported offsets: [log_start_offset, end_offset), end fixed when the export started. */
  log_start_offset: number;
  end_offset: number;
  batches: number;
  records: number;
  min_timestamp_ns: string | null;
  max_timestamp_ns: string | null;
  gaps: ArchiveManifest["gaps"];
  parts: number;
  data_bytes: number;
  archive_bytes: number;
  notes: string[];
}

/** `{data}/divergent/{topic}`: where a deposed leader keeps its unreplicated suffix (design D4). */
export function divergentTopicDir(dataDir: string, topic: string): string {
  const problem = topicNameProblem(topic);
  if (problem) throw new LanceError("LNC_BAD_ARGUMENT", problem);
  requireDir(dataDir, "data directory");
  const dir = join(dataDir, "divergent", topic);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new LanceError("LNC_NOT_FOUND", `no divergent data for topic ${JSON.stringify(topic)}: ${dir} does not exist`);
  }
  return dir;
}

/**
 * Exports a topic (or its divergent suffix) as an archive. The segments are pinned first and
 * the export covers exactly what they held at that moment; later appends are not included.
 */
export function exportTopic(opts: ExportTopicOptions, onProgress?: (done: number, total: number) => void): ExportReport {
  const dir = opts.divergent ? divergentTopicDir(opts.path, opts.topic) : resolveTopicDir(opts.path, opts.topic);
  if (existsSync(opts.output) && statSync(opts.output).isDirectory()) {
    throw new LanceError("LNC_BAD_ARGUMENT", `--output ${opts.output} is a directory; give the archive's file name (e.g. ${join(opts.output, `${opts.topic}.lance`)})`);
  }
  requireDir(dirname(resolve(opts.output)), "output directory");
  const meta = topicMetadataOf(dir, Boolean(opts.divergent));
  // Scanning is the first half of the work, copying the second.
  const snapshot = pinTopic(dir, (done, total) => onProgress?.(done, total * 2));
  try {
    const written = writeArchive(
      snapshot,
      { kind: opts.divergent ? "divergent" : "topic", topic: meta?.name ?? opts.topic },
      meta && { id: meta.id, name: meta.name, created_at: meta.created_at, topic_epoch: meta.topic_epoch, auth: meta.auth, retention: meta.retention },
      opts.output,
      (done, total) => onProgress?.(total + done, total * 2),
    );
    const m = written.manifest;
    return {
      topic: meta?.name ?? opts.topic,
      source: dir,
      output: written.path,
      format_version: m.version,
      log_start_offset: m.log_start_offset,
      end_offset: m.end_offset,
      batches: m.batches,
      records: m.records,
      min_timestamp_ns: m.min_timestamp_ns,
      max_timestamp_ns: m.max_timestamp_ns,
      gaps: m.gaps,
      parts: m.parts.length,
      data_bytes: snapshot.bytes,
      archive_bytes: written.archiveBytes,
      notes: snapshot.notes,
    };
  } finally {
    snapshot.close();
  }
}

function topicMetadataOf(dir: string, divergent: boolean): TopicMetadata | null {
  try {
    return readTopicMetadata(dir);
  } catch (err) {
    // A divergent directory may hold segments only; a topic always has metadata.json.
    if (divergent && isLanceError(err, "LNC_NOT_FOUND")) return null;
    throw err;
  }
}

export function runExportTopic(opts: ExportTopicOptions, io: CommandIO): number {
  const progress = byteProgress(io, "exporting", !opts.json);
  let report: ExportReport;
  try {
    report = exportTopic(opts, progress.update);
  } finally {
    progress.stop();
  }
  io.out(opts.json ? toJson(report) : renderExport(report));
  return EXIT_OK;
}

export function renderExport(r: ExportReport): string {
  const lines = [
    `Exported topic ${r.topic} to ${r.output}`,
    `  Source:    ${r.source}`,
    `  Offsets:   ${formatRange(r.log_start_offset, r.end_offset)} (stable end ${r.end_offset}, fixed when the export started; later appends are not included)`,
    `  Records:   ${r.records} in ${r.batches} batches`,
    `  Time:      ${formatTimestamp(r.min_timestamp_ns === null ? null : BigInt(r.min_timestamp_ns))} .. ${formatTimestamp(r.max_timestamp_ns === null ? null : BigInt(r.max_timestamp_ns))}`,
    `  Parts:     ${r.parts} segment${r.parts === 1 ? "" : "s"}, ${formatBytes(r.data_bytes)} of batches`,
    `  Archive:   format v${r.format_version}, ${r.archive_bytes} bytes (${formatBytes(r.archive_bytes)})`,
  ];
  for (const g of r.gaps) lines.push(`  Gap:       ${g.from}..${g.to - 1} (${g.reason}): no records at these offsets, kept as a gap`);
  for (const n of r.notes) lines.push(`  Note:      ${n}`);
  lines.push("", "✓ Export completed");
  return lines.join("\n");
}
