import { crc32c } from "./checksum.js";
import { LanceError } from "./errors.js";

/**
 * Segment file format v1 (docs/storage-format.md has the byte tables and a worked example).
 * All integers are little-endian.
 */
export const FORMAT_VERSION = 1;

/** "LNCS": the first four bytes of every v1 segment file. */
export const SEGMENT_MAGIC = 0x53434e4c;
export const SEGMENT_HEADER_SIZE = 32;

/** "LB": two bytes at offset 36 of every batch header; lets a scan tell data from garbage. */
export const BATCH_MAGIC = 0x424c;
export const BATCH_HEADER_SIZE = 40;
/** The batch length field counts the bytes after itself: header minus 4, plus the payload. */
export const BATCH_LENGTH_OVERHEAD = BATCH_HEADER_SIZE - 4;
/** Largest payload a batch may carry unless a caller raises it (LWP caps ingest at 16 MiB). */
export const DEFAULT_MAX_BATCH_PAYLOAD = 64 * 1024 * 1024;

/** Batch flag bit 0: the producer sent the payload compressed (LWP flag 0x01); stored as sent. */
export const BATCH_FLAG_COMPRESSED = 0x0001;

export interface SegmentHeader {
  version: number;
  baseOffset: number;
  createdNs: bigint;
}

export interface BatchHeader {
  /** Bytes after the length field: BATCH_LENGTH_OVERHEAD + payload length. */
  length: number;
  crc: number;
  baseOffset: number;
  recordCount: number;
  firstTimestampNs: bigint;
  lastTimestampNs: bigint;
  flags: number;
}

export interface BatchInput {
  payload: Uint8Array;
  /** Records the payload holds; the batch covers offsets [baseOffset, baseOffset + recordCount). */
  recordCount: number;
  firstTimestampNs: bigint;
  lastTimestampNs?: bigint;
  flags?: number;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Reads a u64 that must be a safe JS integer (offsets); `what` names it in the error. */
export function readSafeU64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new LanceError("LNC_OFFSET_OUT_OF_RANGE", `${what} ${v} is beyond 2^53-1`);
  }
  return Number(v);
}

export function encodeSegmentHeader(h: { baseOffset: number; createdNs: bigint }): Uint8Array {
  const buf = new Uint8Array(SEGMENT_HEADER_SIZE);
  const dv = view(buf);
  dv.setUint32(0, SEGMENT_MAGIC, true);
  dv.setUint16(4, FORMAT_VERSION, true);
  dv.setUint16(6, SEGMENT_HEADER_SIZE, true);
  dv.setBigUint64(8, BigInt(h.baseOffset), true);
  dv.setBigUint64(16, h.createdNs, true);
  dv.setUint32(24, 0, true);
  dv.setUint32(28, crc32c(buf.subarray(0, 28)), true);
  return buf;
}

/** Decodes and checks a segment header; throws a LanceError naming what is wrong. */
export function decodeSegmentHeader(buf: Uint8Array): SegmentHeader {
  if (buf.byteLength < SEGMENT_HEADER_SIZE) {
    throw new LanceError(
      "LNC_TORN_TAIL",
      `segment header needs ${SEGMENT_HEADER_SIZE} bytes, file has ${buf.byteLength}`,
    );
  }
  const dv = view(buf);
  const magic = dv.getUint32(0, true);
  if (magic !== SEGMENT_MAGIC) {
    throw new LanceError(
      "LNC_BAD_MAGIC",
      `not a LANCE v1 segment: magic 0x${magic.toString(16).padStart(8, "0")}, expected "LNCS"`,
    );
  }
  const stored = dv.getUint32(28, true);
  const actual = crc32c(buf.subarray(0, 28));
  if (stored !== actual) {
    throw new LanceError(
      "LNC_CRC_MISMATCH",
      `segment header checksum mismatch: stored 0x${hex32(stored)}, computed 0x${hex32(actual)}`,
    );
  }
  const version = dv.getUint16(4, true);
  if (version !== FORMAT_VERSION || dv.getUint16(6, true) !== SEGMENT_HEADER_SIZE) {
    throw new LanceError("LNC_BAD_VERSION", `unsupported segment format version ${version}`);
  }
  return {
    version,
    baseOffset: readSafeU64(dv, 8, "segment base offset"),
    createdNs: dv.getBigUint64(16, true),
  };
}

export function batchSize(payloadLength: number): number {
  return BATCH_HEADER_SIZE + payloadLength;
}

/** Encodes one batch (header + payload) with its CRC-32C, ready to append. */
export function encodeBatch(baseOffset: number, input: BatchInput): Uint8Array {
  const out = new Uint8Array(BATCH_HEADER_SIZE + input.payload.byteLength);
  writeBatchInto(out, 0, baseOffset, input);
  return out;
}

/**
 * Writes one encoded batch into `out` at `at`; returns the bytes written. `view` must be a
 * DataView over exactly `out`: the append hot path passes one it keeps (DataView writes are
 * several times cheaper than Buffer's for u64 fields).
 */
export function writeBatchInto(out: Uint8Array, at: number, baseOffset: number, input: BatchInput, view?: DataView): number {
  checkBatchInput(baseOffset, input);
  const size = BATCH_HEADER_SIZE + input.payload.byteLength;
  const dv = view ?? new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(at, BATCH_LENGTH_OVERHEAD + input.payload.byteLength, true);
  dv.setUint32(at + 8, baseOffset % 0x1_0000_0000, true);
  dv.setUint32(at + 12, Math.floor(baseOffset / 0x1_0000_0000), true);
  dv.setUint32(at + 16, input.recordCount, true);
  dv.setBigUint64(at + 20, input.firstTimestampNs, true);
  dv.setBigUint64(at + 28, input.lastTimestampNs ?? input.firstTimestampNs, true);
  dv.setUint16(at + 36, BATCH_MAGIC, true);
  dv.setUint16(at + 38, input.flags ?? 0, true);
  out.set(input.payload, at + BATCH_HEADER_SIZE);
  dv.setUint32(at + 4, crc32c(out.subarray(at + 8, at + size)), true);
  return size;
}

function checkBatchInput(baseOffset: number, input: BatchInput): void {
  if (!Number.isSafeInteger(baseOffset) || baseOffset < 0) {
    throw new LanceError("LNC_BAD_ARGUMENT", `batch base offset must be a non-negative integer, got ${baseOffset}`);
  }
  if (!Number.isInteger(input.recordCount) || input.recordCount < 1 || input.recordCount > 0xffffffff) {
    throw new LanceError("LNC_BAD_ARGUMENT", `batch record count must be 1..2^32-1, got ${input.recordCount}`);
  }
  if (input.payload.byteLength > DEFAULT_MAX_BATCH_PAYLOAD) {
    throw new LanceError(
      "LNC_BAD_LENGTH",
      `batch payload is ${input.payload.byteLength} bytes, over the ${DEFAULT_MAX_BATCH_PAYLOAD}-byte limit`,
    );
  }
}

/**
 * Decodes the fixed part of a batch header without checking the CRC (the payload may not be
 * in memory yet). Returns the fields as stored; callers check plausibility with
 * `batchHeaderProblem` and integrity with `verifyBatch`.
 */
export function decodeBatchHeader(buf: Uint8Array, at = 0): BatchHeader & { magic: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset + at, BATCH_HEADER_SIZE);
  return {
    length: dv.getUint32(0, true),
    crc: dv.getUint32(4, true),
    baseOffset: Number(dv.getBigUint64(8, true)),
    recordCount: dv.getUint32(16, true),
    firstTimestampNs: dv.getBigUint64(20, true),
    lastTimestampNs: dv.getBigUint64(28, true),
    magic: dv.getUint16(36, true),
    flags: dv.getUint16(38, true),
  };
}

/** Checks the CRC of a complete batch at `at` in `buf` (header and payload both present). */
export function batchCrcMatches(buf: Uint8Array, at: number, length: number): boolean {
  const stored = new DataView(buf.buffer, buf.byteOffset + at + 4, 4).getUint32(0, true);
  return stored === crc32c(buf.subarray(at + 8, at + 4 + length));
}

export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}
