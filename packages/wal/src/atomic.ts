import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Async twin of segment-format's fsyncDir, so the event loop keeps running while it syncs. */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const h = await open(dir, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Async twin of segment-format's writeFileAtomic: temp file, fsync, rename, fsync dir. */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const h = await open(tmp, "w", 0o640);
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (err) {
    await h.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await h.close();
  await rename(tmp, path);
  await fsyncDirAsync(dirname(path));
}
