import { open, type FileHandle } from "node:fs/promises";
import { crc32c } from "./checksum.js";
import { LanceError } from "./errors.js";
import {
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OVERHEAD,
  BATCH_MAGIC,
  DEFAULT_MAX_BATCH_PAYLOAD,
  SEGMENT_HEADER_SIZE,
  decodeSegmentHeader,
  hex32,
  type SegmentHeader,
} from "./format.js";
import type { BatchInfo } from "./scanner.js";

export interface Batch extends BatchInfo {
  /** The producer's payload bytes, exactly as appended. */
  payload: Buffer;
}

const READ_AHEAD = 64 * 1024;
/** Largest single read of readBatches; a bigger budget takes several. */
const MAX_READ = 32 * 1024 * 1024;

/**
 * Reads batches from one segment file. Header walks check structure; payload reads also check
 * the CRC, so a reader never returns bytes that differ from what was appended.
 */
export class SegmentReader {
  readonly path: string;
  readonly header: SegmentHeader;
  private readonly fh: FileHandle;
  private fileSize: number;

  private constructor(path: string, fh: FileHandle, header: SegmentHeader, size: number) {
    this.path = path;
    this.fh = fh;
    this.header = header;
    this.fileSize = size;
  }

  static async open(path: string): Promise<SegmentReader> {
    const fh = await open(path, "r");
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
      const { bytesRead } = await fh.read(buf, 0, SEGMENT_HEADER_SIZE, 0);
      let header: SegmentHeader;
      try {
        header = decodeSegmentHeader(buf.subarray(0, bytesRead));
      } catch (err) {
        const e = err as LanceError;
        throw new LanceError(e.code, `${path}: ${e.message}`);
      }
      return new SegmentReader(path, fh, header, size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** File size seen at open or at the last `refresh()`; an active segment keeps growing. */
  get size(): number {
    return this.fileSize;
  }

  async refresh(): Promise<number> {
    this.fileSize = (await this.fh.stat()).size;
    return this.fileSize;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /**
   * Walks batch headers from `position` (a batch boundary, default the first batch) in file
   * order. Stops at the end of the file or at the first header that cannot be a batch.
   */
  async *headers(position = SEGMENT_HEADER_SIZE): AsyncGenerator<BatchInfo> {
    let buf = Buffer.alloc(READ_AHEAD);
    let bufStart = 0;
    let bufLen = 0;
    let pos = position;
    while (pos + BATCH_HEADER_SIZE <= this.fileSize) {
      if (pos < bufStart || pos + BATCH_HEADER_SIZE > bufStart + bufLen) {
        const { bytesRead } = await this.fh.read(buf, 0, buf.byteLength, pos);
        bufStart = pos;
        bufLen = bytesRead;
        if (bytesRead < BATCH_HEADER_SIZE) return;
      }
      const info = parseHeader(buf, pos - bufStart, pos);
      if (!info || pos + info.size > this.fileSize) return;
      yield info;
      pos += info.size;
    }
  }

  /** The batch holding `offset`, or the first batch after it when `offset` falls in a gap; null past the end. */
  async findByOffset(offset: number, fromPosition = SEGMENT_HEADER_SIZE): Promise<BatchInfo | null> {
    for await (const b of this.headers(fromPosition)) {
      if (b.nextOffset > offset) return b;
    }
    return null;
  }

  /** The first batch whose newest record is at or after `timestampNs`; null if none. */
  async findByTime(timestampNs: bigint, fromPosition = SEGMENT_HEADER_SIZE): Promise<BatchInfo | null> {
    for await (const b of this.headers(fromPosition)) {
      if (b.lastTimestampNs >= timestampNs) return b;
    }
    return null;
  }

  /** Reads and CRC-checks the whole batch at `position`. */
  async readBatchAt(position: number): Promise<Batch> {
    const head = Buffer.alloc(BATCH_HEADER_SIZE);
    const { bytesRead } = await this.fh.read(head, 0, BATCH_HEADER_SIZE, position);
    const info = bytesRead === BATCH_HEADER_SIZE ? parseHeader(head, 0, position) : null;
    if (!info || position + info.size > this.fileSize) {
      throw new LanceError("LNC_BAD_HEADER", `${this.path}: no valid batch header at byte ${position}`);
    }
    const whole = Buffer.alloc(info.size);
    head.copy(whole);
    await readFully(this.fh, whole, BATCH_HEADER_SIZE, info.size - BATCH_HEADER_SIZE, position + BATCH_HEADER_SIZE);
    checkCrc(whole, this.path, position);
    return { ...info, payload: whole.subarray(BATCH_HEADER_SIZE) };
  }

  /**
   * Whole batches from `position` (a batch boundary) onward, at least one (if any exists) and
   * otherwise no more than `maxBytes` of payload in total, read with as few large reads as
   * possible. Every batch is CRC-checked. Stops early at an offset gap: a batch starting after
   * the previous one's end (`contiguous`, default true).
   */
  async readBatches(position: number, maxBytes: number, contiguous = true): Promise<Batch[]> {
    const out: Batch[] = [];
    let total = 0;
    let pos = position;
    while (pos + BATCH_HEADER_SIZE <= this.fileSize) {
      // Room for the payload budget plus batch headers; grown below if one batch is bigger.
      const room = maxBytes - total;
      const want = Math.floor(Math.min(this.fileSize - pos, MAX_READ, Math.max(BATCH_HEADER_SIZE, room + room / 16 + 64 * 1024)));
      const buf = Buffer.allocUnsafe(want);
      await readFully(this.fh, buf, 0, want, pos);
      let at = 0;
      while (at + BATCH_HEADER_SIZE <= want) {
        const info = parseHeader(buf, at, pos + at);
        if (!info || pos + at + info.size > this.fileSize) return out;
        if (out.length > 0 && (total + info.payloadLength > maxBytes || (contiguous && info.baseOffset !== out[out.length - 1]!.nextOffset))) return out;
        if (at + info.size > want) {
          if (out.length > 0 || at > 0) break;
          // The first batch is larger than the read: read it whole.
          out.push(await this.readBatchAt(info.position));
          return out;
        }
        const whole = buf.subarray(at, at + info.size);
        // Damage ends the read after the good batches before it; it is an error only when the
        // damaged batch is the first one asked for.
        if (out.length > 0 && !crcMatches(whole)) return out;
        checkCrc(whole, this.path, info.position);
        out.push({ ...info, payload: whole.subarray(BATCH_HEADER_SIZE) });
        total += info.payloadLength;
        at += info.size;
      }
      if (at === 0) return out;
      pos += at;
    }
    return out;
  }
}

function parseHeader(buf: Buffer, at: number, position: number): BatchInfo | null {
  const length = buf.readUInt32LE(at);
  if (buf.readUInt16LE(at + 36) !== BATCH_MAGIC) return null;
  if (length < BATCH_LENGTH_OVERHEAD || length > BATCH_LENGTH_OVERHEAD + DEFAULT_MAX_BATCH_PAYLOAD) return null;
  const recordCount = buf.readUInt32LE(at + 16);
  if (recordCount === 0) return null;
  const baseOffset = Number(buf.readBigUInt64LE(at + 8));
  return {
    position,
    size: length + 4,
    baseOffset,
    recordCount,
    nextOffset: baseOffset + recordCount,
    firstTimestampNs: buf.readBigUInt64LE(at + 20),
    lastTimestampNs: buf.readBigUInt64LE(at + 28),
    flags: buf.readUInt16LE(at + 38),
    payloadLength: length + 4 - BATCH_HEADER_SIZE,
  };
}

function crcMatches(batch: Buffer): boolean {
  return batch.readUInt32LE(4) === crc32c(batch.subarray(8));
}

function checkCrc(batch: Buffer, path: string, position: number): void {
  const stored = batch.readUInt32LE(4);
  const actual = crc32c(batch.subarray(8));
  if (stored !== actual) {
    throw new LanceError(
      "LNC_CRC_MISMATCH",
      `${path}: checksum mismatch in batch at byte ${position} (stored 0x${hex32(stored)}, computed 0x${hex32(actual)}); run lnc verify-data and lnc repair`,
    );
  }
}

async function readFully(fh: FileHandle, buf: Buffer, at: number, len: number, position: number): Promise<void> {
  let done = 0;
  while (done < len) {
    const { bytesRead } = await fh.read(buf, at + done, len - done, position + done);
    if (bytesRead === 0) throw new LanceError("LNC_TORN_TAIL", `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}
