import { existsSync, readdirSync, statSync, openSync, readSync, closeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { FILE_MAGIC } from "./format.js";

export const WAL_FILE_EXT = ".wal";
export const HARD_STATE_FILE = "hardstate.json";
export const CHECKPOINT_FILE = "checkpoint.json";
const WAL_NAME_RE = /^(\d{20})-(\d+)\.wal$/;

/**
 * `{first_index:020}-{epoch}.wal`. The epoch (unique per file created or recycled) keeps names
 * unique when a Raft truncation makes a later file start at an index an earlier file started
 * at. The file header, not the name, is authoritative.
 */
export function walFileName(firstIndex: number, epoch: number): string {
  return `${String(firstIndex).padStart(20, "0")}-${epoch}${WAL_FILE_EXT}`;
}

export function parseWalFileName(name: string): { firstIndex: number; epoch: number } | null {
  const m = WAL_NAME_RE.exec(name);
  return m ? { firstIndex: Number(m[1]), epoch: Number(m[2]) } : null;
}

/** WAL segment files of a directory (by name), sorted by name. */
export function listWalFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(WAL_FILE_EXT) && !n.startsWith("."))
    .sort();
}

/** Where repair leaves the original directory: a sibling `{wal dir}.backup-<UTC timestamp>`. */
export function backupDirFor(dir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return join(dirname(resolve(dir)), `${basename(resolve(dir))}.backup-${stamp}`);
}

/** Where repair builds the replacement directory before swapping it in. */
export function repairStagingDirFor(dir: string): string {
  return join(dirname(resolve(dir)), `${basename(resolve(dir))}.repair-staging`);
}
export const STAGING_COMPLETE_MARKER = "REPAIR_COMPLETE";

function startsWithWalMagic(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(FILE_MAGIC.byteLength);
    const n = readSync(fd, buf, 0, buf.byteLength, 0);
    return n === buf.byteLength && buf.equals(FILE_MAGIC);
  } finally {
    closeSync(fd);
  }
}

/**
 * Tells the offline tools what a path is: a WAL directory (holds `*.wal` files or the WAL's
 * state files, or is named `wal`), a WAL file (`.wal` name or the `LANCEWAL` magic), or neither
 * (then it is a segment path or something else). Segment files are `.lnc` and start with the
 * segment magic, never with `LANCEWAL`.
 */
export function detectWalPath(path: string): "wal-dir" | "wal-file" | null {
  if (!existsSync(path)) return null;
  const st = statSync(path);
  if (st.isDirectory()) {
    const names = readdirSync(path);
    if (names.some((n) => WAL_NAME_RE.test(n) || n === HARD_STATE_FILE || n === CHECKPOINT_FILE)) return "wal-dir";
    return basename(resolve(path)) === "wal" ? "wal-dir" : null;
  }
  if (!st.isFile()) return null;
  if (path.endsWith(WAL_FILE_EXT)) return "wal-file";
  return startsWithWalMagic(path) ? "wal-file" : null;
}
