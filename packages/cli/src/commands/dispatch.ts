import { existsSync, statSync } from "node:fs";
import { LanceError } from "@lance/segment-format";
import { detectWalPath } from "@lance/wal";
import type { CommandIO } from "../io.js";
import { runRepairSegment, type RepairSegmentOptions } from "./repair.js";
import { runScan, type ScanOptions } from "./scan.js";
import { runRepairWal, runScanWal } from "./wal.js";

/** `lnc scan --path X`: a WAL file or a segment file, told apart by name and magic. */
export function runScanPath(opts: ScanOptions, io: CommandIO): number {
  return detectWalPath(opts.path) === "wal-file" ? runScanWal(opts, io) : runScan(opts, io);
}

/** `lnc repair --path X`: the WAL directory (runbook 2.3) or one segment file (runbook 2.1, 4.1). */
export function runRepairPath(opts: RepairSegmentOptions, io: CommandIO): number {
  if (detectWalPath(opts.path) === "wal-dir") {
    if (opts.truncateAtDamage) throw new LanceError("LNC_BAD_ARGUMENT", "--truncate-at-damage is for segments; a WAL repair truncates at the first damage by default");
    return runRepairWal(opts, io);
  }
  if (existsSync(opts.path) && statSync(opts.path).isDirectory()) {
    throw new LanceError("LNC_BAD_ARGUMENT", `${opts.path} is a directory but not a WAL directory; repair takes the WAL directory ({data_dir}/wal) or a segment file (.lnc)`);
  }
  return runRepairSegment(opts, io);
}
