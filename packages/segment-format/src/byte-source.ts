import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * Random-access bytes for the scanner. `window(pos, len)` makes [pos, pos+len) available as
 * `buf[at .. at+len)`; the buffer stays valid until the next call.
 */
export interface ByteSource {
  readonly size: number;
  window(position: number, length: number): { buf: Buffer; at: number };
  close(): void;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    size: buf.byteLength,
    window: (position) => ({ buf, at: position }),
    close: () => {},
  };
}

const DEFAULT_WINDOW = 8 * 1024 * 1024;

/**
 * A file read through one sliding window of large sequential reads. Given a path it opens
 * (and on close closes) the file; given `{ fd, size }` it reads the first `size` bytes of a
 * descriptor the caller keeps and closes, e.g. a segment pinned for a consistent export.
 */
export class FileSource implements ByteSource {
  readonly size: number;
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private buf: Buffer;
  private start = 0;
  private end = 0;

  constructor(source: string | { fd: number; size: number }, windowBytes = DEFAULT_WINDOW) {
    this.ownsFd = typeof source === "string";
    this.fd = typeof source === "string" ? openSync(source, "r") : source.fd;
    this.size = typeof source === "string" ? fstatSync(this.fd).size : source.size;
    this.buf = Buffer.allocUnsafe(Math.min(windowBytes, Math.max(this.size, 64)));
  }

  window(position: number, length: number): { buf: Buffer; at: number } {
    if (position >= this.start && position + length <= this.end) {
      return { buf: this.buf, at: position - this.start };
    }
    if (length > this.buf.byteLength) this.buf = Buffer.allocUnsafe(length);
    const want = Math.min(this.buf.byteLength, this.size - position);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, this.buf, got, want - got, position + got);
      if (n === 0) break;
      got += n;
    }
    this.start = position;
    this.end = position + got;
    return { buf: this.buf, at: 0 };
  }

  close(): void {
    if (this.ownsFd) closeSync(this.fd);
  }
}
