import { closeSync, copyFileSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fsyncDir, writeFileAtomic } from "./atomic-file.js";
import { LanceError } from "./errors.js";
import { encodeSegmentHeader, SEGMENT_HEADER_SIZE } from "./format.js";
import { parseSegmentName } from "./naming.js";
import { scanSegmentFile, type ScanProblem, type SegmentScan } from "./scanner.js";

/**
 * How far a repair may go.
 * - `tail`: only cut damage that runs to the end of the file (torn write, corrupt last batch,
 *   trailing garbage). Damage with valid batches after it is refused.
 * - `truncate-at-damage`: cut everything from the first bad byte, valid batches after it too.
 * - `skip-corrupt`: rewrite the file without the bad regions, keeping every valid batch; the
 *   lost records leave an offset gap (offsets are never renumbered). A damaged segment header is
 *   rebuilt from the file name.
 */
export type RepairMode = "tail" | "truncate-at-damage" | "skip-corrupt";

export interface SegmentRepairPlan {
  path: string;
  mode: RepairMode;
  action: "none" | "truncate" | "rewrite" | "refuse";
  /** One line saying what will happen and why (or why not). */
  reason: string;
  fileSize: number;
  newSize: number;
  droppedBytes: number;
  /** Valid batches that are removed anyway (only with `truncate-at-damage`). */
  droppedValidBatches: number;
  droppedValidRecords: number;
  keptBatches: number;
  keptRecords: number;
  /** First record kept (null when nothing is kept). */
  firstOffset: number | null;
  /** One past the last record kept. */
  nextOffset: number | null;
  problems: ScanProblem[];
}

export interface SegmentRepairResult extends SegmentRepairPlan {
  /** Where the removed bytes (truncate) or the original file (rewrite) were saved. */
  backupPath: string | null;
}

/** Decides what a repair would do to a scanned segment; changes nothing. */
export function planSegmentRepair(path: string, scan: SegmentScan, mode: RepairMode): SegmentRepairPlan {
  const base = {
    path,
    mode,
    fileSize: scan.fileSize,
    problems: scan.problems,
  };
  if (scan.ok) {
    return {
      ...base, action: "none", reason: "segment is intact; nothing to repair", newSize: scan.fileSize, droppedBytes: 0,
      droppedValidBatches: 0, droppedValidRecords: 0, keptBatches: scan.batchCount, keptRecords: scan.recordCount, firstOffset: scan.firstOffset, nextOffset: scan.nextOffset,
    };
  }
  const headerBad = scan.header === null;
  const first = scan.problems[0]!;
  if (mode === "skip-corrupt") {
    const kept = scan.batchCount;
    const newSize = SEGMENT_HEADER_SIZE + validBatchBytes(scan);
    return {
      ...base, action: "rewrite",
      reason: `rewrite without ${scan.problems.length} damaged region(s), keeping all ${kept} valid batches${headerBad ? "; the segment header is rebuilt from the file name" : ""}`,
      newSize, droppedBytes: scan.fileSize - newSize, droppedValidBatches: 0, droppedValidRecords: 0,
      keptBatches: kept, keptRecords: scan.recordCount, firstOffset: scan.firstOffset, nextOffset: scan.nextOffset,
    };
  }
  if (headerBad) {
    return refuse(base, scan, `the segment header is damaged (${first.message}); run again with --skip-corrupt to rebuild it from the file name, or quarantine the segment (runbook 4.2)`);
  }
  if (mode === "tail" && !scan.damageAtTailOnly) {
    const after = scan.batchCount - scan.prefixBatchCount;
    return refuse(
      base, scan,
      `damage at byte ${first.position} (${first.kind}) is not at the tail: ${after} valid batch(es) follow it. ` +
        `Re-run with --skip-corrupt to drop only the damaged bytes (leaves an offset gap), or --truncate-at-damage to cut everything from byte ${first.position}`,
    );
  }
  const droppedValidBatches = scan.batchCount - scan.prefixBatchCount;
  return {
    ...base, action: "truncate",
    reason: `truncate at byte ${scan.validPrefixBytes}, the end of the last valid batch before the damage (${first.kind} at byte ${first.position})`,
    newSize: scan.validPrefixBytes, droppedBytes: scan.fileSize - scan.validPrefixBytes,
    droppedValidBatches, droppedValidRecords: scan.recordCount - scan.prefixRecordCount,
    keptBatches: scan.prefixBatchCount, keptRecords: scan.prefixRecordCount, firstOffset: scan.prefixBatchCount ? scan.firstOffset : null, nextOffset: scan.prefixNextOffset,
  };
}

function refuse(base: Pick<SegmentRepairPlan, "path" | "mode" | "fileSize" | "problems">, scan: SegmentScan, reason: string): SegmentRepairPlan {
  return {
    ...base, action: "refuse", reason, newSize: scan.fileSize, droppedBytes: 0, droppedValidBatches: 0, droppedValidRecords: 0,
    keptBatches: scan.batchCount, keptRecords: scan.recordCount, firstOffset: scan.firstOffset, nextOffset: scan.nextOffset,
  };
}

function validBatchBytes(scan: SegmentScan): number {
  let total = 0;
  for (const r of validRegions(scan)) total += r.length;
  return total;
}

/** Byte ranges of the batch area that are not damaged, in file order. */
function validRegions(scan: SegmentScan): { position: number; length: number }[] {
  const regions: { position: number; length: number }[] = [];
  let pos = SEGMENT_HEADER_SIZE;
  const bad = scan.problems.filter((p) => p.kind !== "bad_segment_header").sort((a, b) => a.position - b.position);
  for (const p of bad) {
    if (p.position > pos) regions.push({ position: pos, length: p.position - pos });
    pos = Math.max(pos, p.position + p.length);
  }
  if (scan.fileSize > pos) regions.push({ position: pos, length: scan.fileSize - pos });
  return regions;
}

/**
 * Scans `path`, plans the repair and (unless `dryRun`) carries it out. The bytes removed are
 * saved first: a truncate saves the cut tail to `{stem}.repair-{ns}.cut`, a rewrite keeps the
 * whole original as `{stem}.repair-{ns}.orig`, both beside the segment (never `*.lnc`).
 */
export function repairSegmentFile(path: string, mode: RepairMode, options: { dryRun?: boolean; stampNs?: bigint } = {}): SegmentRepairResult {
  const name = parseSegmentName(basename(path));
  const scan = scanSegmentFile(path, name ? { baseOffset: name.baseOffset } : {});
  const plan = planSegmentRepair(path, scan, mode);
  if (options.dryRun || plan.action === "none" || plan.action === "refuse") return { ...plan, backupPath: null };

  const stamp = options.stampNs ?? BigInt(Date.now()) * 1_000_000n;
  const stem = basename(path).replace(/\.lnc$/, "");
  const dir = dirname(path);
  if (plan.action === "truncate") {
    const backupPath = join(dir, `${stem}.repair-${stamp}.cut`);
    const fd = openSync(path, "r+");
    try {
      const cut = Buffer.alloc(plan.droppedBytes);
      readFully(fd, cut, plan.newSize);
      writeFileAtomic(backupPath, cut);
      ftruncateSync(fd, plan.newSize);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return { ...plan, backupPath };
  }

  if (!name && scan.header === null) {
    throw new LanceError("LNC_BAD_FILE_NAME", `cannot rebuild the header of ${path}: the file name is not {base}_{ts}.lnc`);
  }
  const backupPath = join(dir, `${stem}.repair-${stamp}.orig`);
  copyFileSync(path, backupPath);
  syncFile(backupPath);
  const header = encodeSegmentHeader(scan.header ?? { baseOffset: name!.baseOffset, createdNs: name!.createdNs });
  const tmp = join(dir, `.${stem}.repair-${stamp}.tmp`);
  const src = openSync(path, "r");
  const out = openSync(tmp, "wx", 0o640);
  try {
    writeSync(out, header);
    for (const r of validRegions(scan)) {
      const chunk = Buffer.alloc(r.length);
      readFully(src, chunk, r.position);
      writeSync(out, chunk);
    }
    fsyncSync(out);
  } finally {
    closeSync(src);
    closeSync(out);
  }
  // Replace the original only once the new file is complete and durable.
  renameSync(tmp, path);
  fsyncDir(dir);
  return { ...plan, backupPath };
}

function readFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.byteLength) {
    const n = readSync(fd, buf, done, buf.byteLength - done, position + done);
    if (n === 0) throw new LanceError("LNC_TORN_TAIL", `unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

function syncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(path));
}
