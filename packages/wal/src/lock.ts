import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { walError } from "./errors.js";

export const LOCK_FILE = "wal.lock";
const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid holding the WAL directory's lock, or null when nobody (alive) does. */
export function lockHolder(dir: string): number | null {
  if (heldHere.has(resolve(dir))) return process.pid;
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, LOCK_FILE), "utf8").trim());
  } catch {
    return null;
  }
  return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) ? pid : null;
}

/**
 * One writer per WAL directory: `wal.lock` holds the owner's pid. A lock left by a dead process
 * (crash, SIGKILL) is taken over.
 */
export function acquireLock(dir: string): void {
  const holder = lockHolder(dir);
  if (holder !== null) {
    throw walError("LNC_WAL_LOCKED", `WAL ${dir} is in use by process ${holder}${holder === process.pid ? " (this process)" : ""}; stop it first`);
  }
  const fd = openSync(join(dir, LOCK_FILE), "w", 0o640);
  try {
    const data = Buffer.from(`${process.pid}\n`);
    writeSync(fd, data, 0, data.byteLength, 0);
  } finally {
    closeSync(fd);
  }
  heldHere.add(resolve(dir));
}

export function releaseLock(dir: string): void {
  if (!heldHere.delete(resolve(dir))) return;
  try {
    unlinkSync(join(dir, LOCK_FILE));
  } catch {
    // already gone: nothing to release
  }
}
