import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ClientError } from "./errors.js";

const CONSUMER_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Committed consumer offsets in local files, one per (consumer name, topic id):
 * `<dir>/<consumer>/topic-<id>.offset`, holding the next offset to read as ASCII decimal and
 * a newline. Writes are atomic: temp file, fsync, rename over the old file, fsync the
 * directory, so a crash leaves either the old or the new offset, never a torn one.
 * (Same idea as upstream's LockFileOffsetStore; the file name differs: upstream hashes the
 * consumer name into the file name, we use the name as the directory only.)
 */
export class FileOffsetStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The file that holds `consumer`'s offset for `topicId`. */
  pathFor(consumer: string, topicId: number): string {
    checkConsumerName(consumer);
    return join(this.dir, consumer, `topic-${topicId}.offset`);
  }

  /** The committed offset, or null when nothing was committed. */
  load(consumer: string, topicId: number): bigint | null {
    const path = this.pathFor(consumer, topicId);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new ClientError("LNC_CLIENT_OFFSET_STORE", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    const trimmed = text.trim();
    if (!/^\d+$/.test(trimmed)) throw new ClientError("LNC_CLIENT_OFFSET_STORE", `${path} does not hold an offset: ${JSON.stringify(text.slice(0, 40))}`);
    return BigInt(trimmed);
  }

  save(consumer: string, topicId: number, offset: bigint): void {
    const path = this.pathFor(consumer, topicId);
    const dir = join(this.dir, consumer);
    const tmp = `${path}.tmp`;
    try {
      mkdirSync(dir, { recursive: true });
      const fd = openSync(tmp, "w", 0o644);
      try {
        writeSync(fd, `${offset}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      const dirFd = openSync(dir, "r");
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (err) {
      throw new ClientError("LNC_CLIENT_OFFSET_STORE", `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function checkConsumerName(name: string): void {
  if (!CONSUMER_NAME.test(name) || name === "." || name === "..") {
    throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", `consumer name must be letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
}
