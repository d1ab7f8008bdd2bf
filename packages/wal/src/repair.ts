import { closeSync, copyFileSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fsyncDir } from "@lance/segment-format";
import { analyzeWal, type Damage, type EntryLocation, type Tail, type WalAnalysis } from "./analyze.js";
import type { IndexRange } from "./entry-table.js";
import { walError } from "./errors.js";
import { FILE_HEADER_SIZE, FRAME_HEADER_SIZE, TYPE_GAP, encodeFileHeader, encodeFrame } from "./format.js";
import { CHECKPOINT_FILE, STAGING_COMPLETE_MARKER, WAL_FILE_EXT, backupDirFor, repairStagingDirFor, walFileName } from "./paths.js";
import { readOrDeriveCheckpoint, writeCheckpoint, type Checkpoint } from "./state.js";
import { LOCK_FILE, lockHolder } from "./lock.js";

export interface WalRepairOptions {
  /** Keep the valid entries after damaged regions (their indexes become holes) instead of truncating at the first damage. */
  skipCorrupt?: boolean;
  /** Report what would happen; write nothing. */
  dryRun?: boolean;
  /** Clock for the backup directory name (tests). */
  now?: Date;
}

export interface WalRepairReport {
  dir: string;
  mode: "truncate" | "skip-corrupt";
  dryRun: boolean;
  /** State found before the repair. */
  status: "clean" | "torn-tail" | "corrupt";
  /** "none": nothing to do; "rewritten": the log was rebuilt (or would be, in a dry run); "finished-interrupted": an earlier repair's swap was completed. */
  action: "none" | "rewritten" | "finished-interrupted";
  damages: Damage[];
  tornTail: Tail | null;
  /** Entries above the checkpoint in the repaired log. */
  keptEntries: number;
  firstIndex: number;
  lastIndex: number;
  /** Valid entries thrown away (truncate mode: everything after the first damage). */
  droppedEntries: number;
  /** Log bytes thrown away: damaged regions, torn tail, and (truncate mode) the dropped entries' frames. */
  droppedBytes: number;
  /** Index ranges missing from the repaired log (skip-corrupt leaves holes; replay reports them). */
  holes: IndexRange[];
  /** Where the original directory was moved (in a dry run: where it would go). Null when nothing changes. */
  backupDir: string | null;
  /**
   * Set when checkpoint.json was unreadable: the checkpoint repair wrote instead (the first index
   * the files hold, minus one, term 0). It is never above the lost one, so startup re-applies a
   * few entries the segments may already hold, which replay skips by offset.
   */
  checkpointRebuilt: (Checkpoint & { reason: string }) | null;
}

/**
 * `lnc repair --path <wal dir> [--skip-corrupt] [--dry-run]` (runbook 2.3).
 *
 * Default: keep the log up to the first damage, drop everything after it. `skipCorrupt`: skip
 * each damaged region, resume at the next valid frame, and record the lost indexes as holes
 * (gap records) so replay knows they are missing on purpose. Either way the repaired log is
 * written into a staging directory, checked by a replay, and swapped in; the original
 * directory is kept untouched as `{wal dir}.backup-<timestamp>`.
 */
export function repairWal(dir: string, options: WalRepairOptions = {}): WalRepairReport {
  const mode = options.skipCorrupt ? "skip-corrupt" : "truncate";
  const dryRun = options.dryRun ?? false;
  const staging = repairStagingDirFor(dir);
  if (!existsSync(dir)) {
    if (existsSync(join(staging, STAGING_COMPLETE_MARKER))) {
      if (!dryRun) finishSwap(staging, dir);
      return { ...emptyReport(dir, mode, dryRun), action: "finished-interrupted" };
    }
    throw walError("LNC_WAL_NOT_A_WAL", `${dir} does not exist`);
  }
  if (!statSync(dir).isDirectory()) throw walError("LNC_WAL_NOT_A_WAL", `${dir} is not a directory (repair takes the WAL directory)`);

  const holder = lockHolder(dir);
  if (holder !== null && !dryRun) throw walError("LNC_WAL_LOCKED", `WAL ${dir} is in use by process ${holder}; stop the server before repairing`);
  const { checkpoint, problem: checkpointProblem } = readOrDeriveCheckpoint(dir);
  const replay = analyzeWal(dir, checkpoint, "replay");
  const skip = analyzeWal(dir, checkpoint, "skip");
  const status = replay.damages.length > 0 || checkpointProblem ? "corrupt" : replay.tail?.kind === "torn" ? "torn-tail" : "clean";
  const kept = mode === "skip-corrupt" ? skip : replay;
  const keptEntries = kept.entries.filter((e) => e.index > checkpoint.index);
  const holes = kept.holes.filter((h) => h.to > checkpoint.index).map(({ from, to }) => ({ from, to }));
  const lastIndex = Math.max(checkpoint.index, keptEntries[keptEntries.length - 1]?.index ?? 0, holes[holes.length - 1]?.to ?? 0);
  const damageBytes = skip.damages.reduce((n, d) => n + d.bytes, 0) + (skip.tail?.bytes ?? 0);
  const dropped = mode === "skip-corrupt" ? [] : skip.entries.filter((e) => e.index > replay.chainLastIndex);
  const report: WalRepairReport = {
    dir,
    mode,
    dryRun,
    status,
    action: status === "clean" ? "none" : "rewritten",
    damages: skip.damages,
    tornTail: skip.tail?.kind === "torn" ? skip.tail : null,
    keptEntries: keptEntries.length,
    firstIndex: checkpoint.index + 1,
    lastIndex,
    droppedEntries: dropped.length,
    droppedBytes: damageBytes + dropped.reduce((n, e) => n + e.size, 0),
    holes,
    backupDir: null,
    checkpointRebuilt: checkpointProblem ? { ...checkpoint, reason: checkpointProblem } : null,
  };
  if (status === "clean") return report;
  report.backupDir = freeBackupDir(dir, options.now);
  if (dryRun) return report;
  if (statSync(dir).dev !== statSync(dirname(resolve(dir))).dev) {
    throw walError(
      "LNC_WAL_BAD_ARGUMENT",
      `${dir} is a mount point, and repair moves the WAL directory aside as its backup; copy it to a plain directory, repair the copy (lnc repair --path <copy>), and copy the result back`,
    );
  }

  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o750 });
  const segmentSize = kept.files[kept.chain[0] ?? -1]?.header?.segmentSize ?? 64 * 1024 * 1024;
  writeLog(staging, kept, keptEntries, holes, checkpoint.index + 1, segmentSize);
  for (const name of readdirSync(dir)) {
    const src = join(dir, name);
    if (name === CHECKPOINT_FILE && checkpointProblem) continue;
    if (!name.endsWith(WAL_FILE_EXT) && name !== LOCK_FILE && !name.startsWith(".") && statSync(src).isFile()) copyFileSync(src, join(staging, name));
  }
  if (checkpointProblem) writeCheckpoint(staging, checkpoint);
  const verify = analyzeWal(staging, checkpoint, "replay");
  if (verify.damages.length > 0 || verify.tail?.kind === "torn" || verify.lastIndex !== lastIndex) {
    throw walError("LNC_WAL_CORRUPT", `repair self-check failed in ${staging} (last index ${verify.lastIndex}, expected ${lastIndex}); the original ${dir} is unchanged`);
  }
  syncTree(staging);
  closeWrite(join(staging, STAGING_COMPLETE_MARKER), Buffer.from(`${dir}\n`));
  fsyncDir(staging);
  renameSync(dir, report.backupDir);
  finishSwap(staging, dir);
  return report;
}

/** `{wal dir}.backup-<timestamp>`, with `-2`, `-3`... when a repair in the same second already took the name. */
function freeBackupDir(dir: string, now?: Date): string {
  const base = backupDirFor(dir, now);
  let candidate = base;
  for (let n = 2; existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}

function emptyReport(dir: string, mode: WalRepairReport["mode"], dryRun: boolean): WalRepairReport {
  return { dir, mode, dryRun, status: "clean", action: "none", damages: [], tornTail: null, keptEntries: 0, firstIndex: 0, lastIndex: 0, droppedEntries: 0, droppedBytes: 0, holes: [], backupDir: null, checkpointRebuilt: null };
}

function finishSwap(staging: string, dir: string): void {
  renameSync(staging, dir);
  unlinkSync(join(dir, STAGING_COMPLETE_MARKER));
  fsyncDir(dir);
  fsyncDir(dirname(resolve(dir)));
}

function closeWrite(path: string, data: Uint8Array): void {
  const fd = openSync(path, "w", 0o640);
  try {
    let done = 0;
    while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncTree(dir: string): void {
  for (const name of readdirSync(dir)) {
    const fd = openSync(join(dir, name), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  fsyncDir(dir);
}

/** Writes a fresh log (epoch 1) holding `entries` and gap records for `holes`, starting at `firstIndex`. */
function writeLog(out: string, a: WalAnalysis, entries: EntryLocation[], holes: IndexRange[], firstIndex: number, segmentSize: number): void {
  type Item = { index: number; frame: Buffer };
  const holeTerm = (h: IndexRange): number => a.holes.find((x) => x.from <= h.from && x.to >= h.to)?.term ?? 0;
  const items: Item[] = [];
  let e = 0;
  let h = 0;
  let cachedFile = -1;
  let cached = Buffer.alloc(0);
  while (e < entries.length || h < holes.length) {
    const entry = entries[e];
    const hole = holes[h];
    if (hole && (!entry || hole.from < entry.index)) {
      const from = Math.max(hole.from, firstIndex);
      items.push({ index: from, frame: encodeFrame({ type: TYPE_GAP, epoch: 1, index: hole.to, term: holeTerm(hole), payload: new Uint8Array(0) }) });
      h++;
      continue;
    }
    const loc = entry!;
    if (cachedFile !== loc.file) {
      cached = readFileSync(a.files[loc.file]!.path);
      cachedFile = loc.file;
    }
    const payloadStart = loc.offset + FRAME_HEADER_SIZE;
    const payload = cached.subarray(payloadStart, payloadStart + loc.payloadLength);
    items.push({ index: loc.index, frame: encodeFrame({ type: loc.type, epoch: 1, index: loc.index, term: loc.term, payload }) });
    e++;
  }
  let fd: number | null = null;
  let pos = 0;
  const openFile = (first: number): void => {
    if (fd !== null) closeSync(fd);
    fd = openSync(join(out, walFileName(first, 1)), "w", 0o640);
    ftruncateSync(fd, segmentSize);
    writeSync(fd, encodeFileHeader({ segmentSize, firstIndex: first, epoch: 1 }), 0, FILE_HEADER_SIZE, 0);
    pos = FILE_HEADER_SIZE;
  };
  openFile(firstIndex);
  for (const item of items) {
    if (pos + item.frame.byteLength > segmentSize) openFile(item.index);
    let done = 0;
    while (done < item.frame.byteLength) done += writeSync(fd!, item.frame, done, item.frame.byteLength - done, pos + done);
    pos += item.frame.byteLength;
  }
  if (fd !== null) closeSync(fd);
}
