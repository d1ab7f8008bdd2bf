import { open, type FileHandle } from "node:fs/promises";
import { LanceError, hex32 } from "@lance/segment-format";
import { Crc32cStream } from "./crc-stream.js";
import { ARCHIVE_HEADER_SIZE, decodeArchiveHeader, decodeManifest, type ArchiveManifest, type ArchivePart } from "./format.js";

const READ_CHUNK = 1024 * 1024;

/**
 * Reads an archive front to back: header and manifest (checksummed and validated on open),
 * then each part in order, handed to a sink chunk by chunk and checked against its CRC-32C
 * at the end. Nothing the archive says is used before its checksum has passed.
 */
export class ArchiveReader {
  private position: number;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly manifest: ArchiveManifest,
    readonly size: number,
    dataStart: number,
  ) {
    this.position = dataStart;
  }

  static async open(path: string): Promise<ArchiveReader> {
    const fh = await open(path, "r");
    try {
      const size = (await fh.stat()).size;
      const head = await readExactly(fh, 0, Math.min(ARCHIVE_HEADER_SIZE, size), path);
      const header = decodeArchiveHeader(head, path);
      const dataStart = ARCHIVE_HEADER_SIZE + header.manifestLength;
      if (size < dataStart) {
        throw new LanceError("LNC_ARCHIVE_CORRUPT", `${path} is truncated: ${size} bytes, the header and manifest need ${dataStart}`);
      }
      const manifest = decodeManifest(await readExactly(fh, ARCHIVE_HEADER_SIZE, header.manifestLength, path), header, path);
      const expected = dataStart + manifest.parts.reduce((n, p) => n + p.bytes, 0);
      if (size < expected) throw new LanceError("LNC_ARCHIVE_CORRUPT", `${path} is truncated: ${size} bytes, its manifest describes ${expected}`);
      if (size > expected) throw new LanceError("LNC_ARCHIVE_CORRUPT", `${path} has ${size - expected} bytes after the last part (expected ${expected} bytes in all)`);
      return new ArchiveReader(path, fh, manifest, size, dataStart);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Streams the next part to `sink`; throws LNC_ARCHIVE_CORRUPT when its bytes fail the CRC. */
  async readPart(part: ArchivePart, sink: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    const crc = new Crc32cStream();
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(part.bytes, 1)));
    for (let left = part.bytes; left > 0; ) {
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.byteLength, left), this.position);
      if (bytesRead === 0) throw new LanceError("LNC_ARCHIVE_CORRUPT", `${this.path} ends inside part ${part.file} (at byte ${this.position})`);
      const chunk = buf.subarray(0, bytesRead);
      crc.update(chunk);
      await sink(chunk);
      this.position += bytesRead;
      left -= bytesRead;
    }
    const actual = hex32(crc.value);
    if (actual !== part.crc32c) {
      throw new LanceError("LNC_ARCHIVE_CORRUPT", `${this.path}: part ${part.file} (offsets ${part.base_offset}..${part.next_offset - 1}) fails its checksum (manifest 0x${part.crc32c}, data 0x${actual})`);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function readExactly(fh: FileHandle, position: number, length: number, path: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new LanceError("LNC_ARCHIVE_CORRUPT", `${path} is truncated at byte ${position + done}`);
    done += bytesRead;
  }
  return buf;
}
