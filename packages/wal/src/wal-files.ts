import { open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDirAsync } from "./atomic.js";

const ZERO_CHUNK = 1024 * 1024;

export async function writeFully(handle: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesWritten } = await handle.write(buf, done, buf.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/**
 * A new WAL file: zero-filled to its full size (so appends never grow it and its unused tail
 * reads as zeros), header written, synced, then renamed into place. The caller fsyncs the dir.
 */
export async function createWalFile(dir: string, name: string, size: number, header: Uint8Array): Promise<FileHandle> {
  const tmp = join(dir, `.${name}.tmp`);
  const handle = await open(tmp, "w+", 0o640);
  try {
    const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, size));
    for (let at = 0; at < size; at += zeros.byteLength) await writeFully(handle, zeros.subarray(0, Math.min(zeros.byteLength, size - at)), at);
    await writeFully(handle, header, 0);
    await handle.sync();
    await rename(tmp, join(dir, name));
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/**
 * Reuses a spare file: the new header (new first index and epoch, which makes every old frame
 * in it stale) is written and synced before the rename. The caller fsyncs the dir.
 */
export async function recycleWalFile(sparePath: string, path: string, header: Uint8Array): Promise<FileHandle> {
  const handle = await open(sparePath, "r+");
  try {
    await writeFully(handle, header, 0);
    await handle.datasync();
    await rename(sparePath, path);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

export async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/** Temp files of atomic writes and file creation that a crash left behind. */
export async function removeLeftoverTempFiles(dir: string): Promise<void> {
  const names = await readdir(dir);
  const leftovers = names.filter((n) => /^\..+\.tmp(-\d+)?$/.test(n));
  for (const n of leftovers) await unlink(join(dir, n)).catch(() => undefined);
  if (leftovers.length > 0) await fsyncDirAsync(dir);
}
