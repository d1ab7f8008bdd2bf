import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { catalogPath, rebuildTopicIndexes, writeCatalog, type CatalogEntry } from "@lance/index";
import {
  LanceError,
  SEGMENT_HEADER_SIZE,
  encodeSegmentHeader,
  fsyncDir,
  isLanceError,
  nowNs,
  readTopicMetadata,
  scanSegmentFile,
  segmentsDir,
  topicDir,
  topicNameProblem,
  walDir,
  writeTopicMetadata,
  type TopicMetadata,
} from "@lance/segment-format";
import { lockHolder } from "@lance/wal";
import type { ArchiveGap, ArchiveManifest, ArchivePart } from "../archive/format.js";
import { ArchiveReader } from "../archive/reader.js";
import { formatBytes, formatRange, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, type CommandIO } from "../io.js";
import { byteProgress } from "../progress.js";
import { requireFile } from "./paths.js";

export interface ImportTopicOptions {
  /** Data directory; the topic lands in `{path}/segments/{name}/`. */
  path: string;
  name: string;
  input: string;
  /** Replace an existing topic of that name: its directory is moved to `{path}/replaced/`, not deleted. */
  force?: boolean;
  json?: boolean;
  /** Aborts the import (SIGINT/SIGTERM): the staging directory is removed and nothing becomes visible. */
  signal?: AbortSignal;
}

export interface ImportReport {
  topic: string;
  id: number;
  dir: string;
  input: string;
  source_topic: string;
  source_kind: "topic" | "divergent";
  log_start_offset: number;
  end_offset: number;
  batches: number;
  records: number;
  segments: number;
  gaps: ArchiveGap[];
  bytes: number;
  /** With --force: where the previous topic directory was moved. */
  replaced: string | null;
  /** A running server holds the data dir: it sees the topic only after a restart. */
  server_running_pid: number | null;
}

/** Archive errors: the input is bad (exit 1). Anything else is a usage or I/O problem (exit 2). */
export const ARCHIVE_ERROR_CODES = ["LNC_ARCHIVE_FOREIGN", "LNC_ARCHIVE_CORRUPT", "LNC_ARCHIVE_INVALID", "LNC_ARCHIVE_VERSION"];

const STAGING_PREFIX = ".import-";

/**
 * Imports an archive as topic `name`. Everything is written and checked in a staging
 * directory `{data}/segments/.import-{name}-{pid}/` (parts against their CRCs, every batch
 * against its own, offsets and gaps against the manifest, indexes rebuilt); metadata.json goes
 * in last and one rename makes the topic appear. On any failure the staging directory (and
 * any directory this import created) is removed: the data dir is left as it was.
 */
export async function importTopic(opts: ImportTopicOptions, onProgress?: (done: number, total: number) => void): Promise<ImportReport> {
  const problem = topicNameProblem(opts.name);
  if (problem) throw new LanceError("LNC_BAD_ARGUMENT", `--name: ${problem}`);
  requireFile(opts.input, "archive");
  const target = topicDir(opts.path, opts.name);
  if (existsSync(target) && !opts.force) {
    throw new LanceError("LNC_TOPIC_EXISTS", `topic ${opts.name} already exists at ${target}; pick another --name, or add --force to replace it (the old directory is moved to ${join(opts.path, "replaced")}/, not deleted)`);
  }

  const reader = await ArchiveReader.open(opts.input);
  const created: string[] = [];
  let staging: string | null = null;
  try {
    for (const dir of [opts.path, segmentsDir(opts.path)]) {
      if (!existsSync(dir)) {
        mkdirSync(dir, { mode: 0o750 });
        created.push(dir);
      }
    }
    removeStaleStaging(opts.path, opts.name);
    staging = join(segmentsDir(opts.path), `${STAGING_PREFIX}${opts.name}-${process.pid}`);
    mkdirSync(staging, { mode: 0o750 });

    const m = reader.manifest;
    let done = 0;
    const total = m.parts.reduce((n, p) => n + p.bytes, 0);
    for (const part of m.parts) {
      if (opts.signal?.aborted) throw new LanceError("LNC_INTERRUPTED", "import interrupted; nothing was imported");
      await writePart(reader, part, staging, (n) => {
        if (opts.signal?.aborted) throw new LanceError("LNC_INTERRUPTED", "import interrupted; nothing was imported");
        done += n;
        onProgress?.(done, total);
      });
    }
    const segments = seedIndexes(staging, m);
    const id = nextTopicId(opts.path);
    writeTopicMetadata(staging, topicMetadataFor(m, opts.name, id));
    fsyncDir(staging);
    if (opts.signal?.aborted) throw new LanceError("LNC_INTERRUPTED", "import interrupted; nothing was imported");

    let replaced: string | null = null;
    if (existsSync(target)) {
      if (!opts.force) throw new LanceError("LNC_TOPIC_EXISTS", `topic ${opts.name} appeared at ${target} during the import; nothing was imported`);
      replaced = moveAside(opts.path, opts.name, target);
    }
    renameSync(staging, target);
    staging = null;
    fsyncDir(segmentsDir(opts.path));
    if (created.length > 0) fsyncDir(dirname(created[0]!));
    return {
      topic: opts.name, id, dir: target, input: opts.input, source_topic: m.source.topic, source_kind: m.source.kind,
      log_start_offset: m.log_start_offset, end_offset: m.end_offset, batches: m.batches, records: m.records, segments,
      gaps: m.gaps, bytes: total, replaced, server_running_pid: serverHolding(opts.path),
    };
  } catch (err) {
    if (staging) rmSync(staging, { recursive: true, force: true });
    for (const dir of created.reverse()) rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await reader.close();
  }
}

/** Writes one part as a segment file of the staging dir and checks it batch by batch against the manifest. */
async function writePart(reader: ArchiveReader, part: ArchivePart, staging: string, progress: (bytes: number) => void): Promise<void> {
  // The name is rebuilt from validated numbers (format.ts refuses a manifest whose name differs).
  const path = join(staging, part.file);
  const fh = await open(path, "wx", 0o640);
  try {
    await fh.write(encodeSegmentHeader({ baseOffset: part.base_offset, createdNs: BigInt(part.created_ns) }));
    await reader.readPart(part, async (chunk) => {
      await fh.write(chunk);
      progress(chunk.byteLength);
    });
    await fh.sync();
  } finally {
    await fh.close();
  }
  const scan = scanSegmentFile(path, { baseOffset: part.base_offset });
  const invalid = (why: string) => new LanceError("LNC_ARCHIVE_INVALID", `${reader.path}: part ${part.file} ${why}`);
  if (!scan.ok) throw invalid(`is not a valid sequence of record batches: ${scan.problems[0]!.kind} at byte ${scan.problems[0]!.position - SEGMENT_HEADER_SIZE} of the part (${scan.problems[0]!.message})`);
  if (scan.batchCount !== part.batches || scan.recordCount !== part.records) throw invalid(`holds ${scan.batchCount} batches / ${scan.recordCount} records, the manifest says ${part.batches} / ${part.records}`);
  if ((scan.nextOffset ?? part.base_offset) !== part.next_offset) throw invalid(`ends at offset ${scan.nextOffset}, the manifest says ${part.next_offset}`);
}

/**
 * Rebuilds every `.idx` and the catalog from the written segments, then checks that the
 * offsets no segment holds are exactly the manifest's gaps, and writes the catalog with the
 * manifest's log start, end offset (never reused) and gap reasons.
 */
function seedIndexes(staging: string, m: ArchiveManifest): number {
  const rebuilt = rebuildTopicIndexes(staging);
  const dataFrom = m.parts[0]?.base_offset ?? m.end_offset;
  const dataTo = m.parts.at(-1)?.next_offset ?? m.end_offset;
  const found = rebuilt.gaps.filter((g) => g.from >= dataFrom && g.to <= dataTo).map((g) => `${g.from}-${g.to}`);
  const claimed = m.gaps.filter((g) => g.from >= dataFrom && g.to <= dataTo).map((g) => `${g.from}-${g.to}`);
  if (found.join(",") !== claimed.join(",")) {
    throw new LanceError("LNC_ARCHIVE_INVALID", `manifest gaps [${claimed.join(", ")}] do not match the data's [${found.join(", ")}]`);
  }
  const entries: CatalogEntry[] = [
    ...rebuilt.catalog.entries.filter((e) => e.kind === "segment"),
    ...m.gaps.map((g): CatalogEntry => ({ kind: "gap", reason: g.reason, from: g.from, to: g.to })),
  ].sort((a, b) => (a.kind === "segment" ? a.baseOffset : a.from) - (b.kind === "segment" ? b.baseOffset : b.from) || (a.kind === "gap" ? -1 : 1));
  writeCatalog(catalogPath(staging), { builtNs: nowNs(), logStartOffset: m.log_start_offset, nextOffset: m.end_offset, entries });
  return rebuilt.segments.length;
}

function topicMetadataFor(m: ArchiveManifest, name: string, id: number): TopicMetadata {
  const t = m.topic;
  return {
    id,
    name,
    created_at: t?.created_at ?? Math.floor(Date.now() / 1000),
    topic_epoch: t?.topic_epoch ?? 1,
    auth: t?.auth ?? null,
    retention: t?.retention ?? null,
  };
}

/** One more than the highest id in any `segments/*\/metadata.json` (staging dirs included), so ids never collide. */
function nextTopicId(dataDir: string): number {
  let max = 0;
  for (const name of readdirSync(segmentsDir(dataDir))) {
    const dir = join(segmentsDir(dataDir), name);
    if (!statSync(dir).isDirectory()) continue;
    try {
      max = Math.max(max, readTopicMetadata(dir).id);
    } catch (err) {
      if (!isLanceError(err)) throw err;
    }
  }
  return max + 1;
}

/** Moves an existing topic directory to `{data}/replaced/{name}-{ns}/` (outside segments/, so no server loads it). */
function moveAside(dataDir: string, name: string, target: string): string {
  const dir = join(dataDir, "replaced");
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const dest = join(dir, `${name}-${nowNs()}`);
  renameSync(target, dest);
  fsyncDir(dir);
  return dest;
}

/** Removes staging dirs of earlier imports of `name` whose process is gone (killed mid-import). */
function removeStaleStaging(dataDir: string, name: string): void {
  const prefix = `${STAGING_PREFIX}${name}-`;
  for (const entry of readdirSync(segmentsDir(dataDir))) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length));
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) rmSync(join(segmentsDir(dataDir), entry), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid holding `{data}/wal/wal.lock` when that process is alive: a server owns the data dir. */
function serverHolding(dataDir: string): number | null {
  const dir = walDir(dataDir);
  return existsSync(dir) ? lockHolder(dir) : null;
}

export async function runImportTopic(opts: ImportTopicOptions, io: CommandIO): Promise<number> {
  const progress = byteProgress(io, "importing", !opts.json);
  let report: ImportReport;
  try {
    report = await importTopic(opts, progress.update);
  } catch (err) {
    progress.stop();
    if (!isLanceError(err) || !(ARCHIVE_ERROR_CODES.includes(err.code) || err.code === "LNC_INTERRUPTED")) throw err;
    io.err(`Error: ${err.message} [${err.code}]`);
    io.err(`Nothing was imported: ${opts.path} is unchanged.`);
    return err.code === "LNC_INTERRUPTED" ? EXIT_USAGE : EXIT_PROBLEM;
  }
  progress.stop();
  io.out(opts.json ? toJson(report) : renderImport(report));
  if (report.server_running_pid !== null && !opts.json) {
    io.err(`warning: a server (pid ${report.server_running_pid}) is running on ${opts.path}; it loads topics at start, so ${report.topic} appears after a restart (systemctl restart lance). Create no topics on it before then: ids could collide.`);
  }
  return EXIT_OK;
}

export function renderImport(r: ImportReport): string {
  const lines = [
    `Imported ${r.input} as topic ${r.topic} (id ${r.id})`,
    `  Directory: ${r.dir}`,
    `  From:      ${r.source_kind === "divergent" ? "divergent data of " : ""}topic ${r.source_topic}`,
    `  Offsets:   ${formatRange(r.log_start_offset, r.end_offset)} (kept as exported; new records start at ${r.end_offset})`,
    `  Records:   ${r.records} in ${r.batches} batches, ${r.segments} segment${r.segments === 1 ? "" : "s"}, ${formatBytes(r.bytes)}`,
  ];
  for (const g of r.gaps) lines.push(`  Gap:       ${g.from}..${g.to - 1} (${g.reason}): kept as a gap`);
  if (r.replaced) lines.push(`  Replaced:  the previous ${r.topic} was moved to ${r.replaced} (delete it once the import is checked)`);
  lines.push("", "✓ Every checksum verified; the topic is in place", `  check it: lnc verify-data --path ${dirname(dirname(r.dir))} --topic ${r.topic}`);
  return lines.join("\n");
}
