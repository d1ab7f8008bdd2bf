import { crc32c } from "./checksum.js";
import { bufferSource, FileSource, type ByteSource } from "./byte-source.js";
import { LanceError, type LanceErrorCode } from "./errors.js";
import {
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OVERHEAD,
  BATCH_MAGIC,
  DEFAULT_MAX_BATCH_PAYLOAD,
  SEGMENT_HEADER_SIZE,
  decodeSegmentHeader,
  type SegmentHeader,
} from "./format.js";

/**
 * Why a region of a segment is not valid data.
 * - `bad_segment_header`: the 32-byte file header is missing, foreign or fails its CRC.
 * - `crc_mismatch`: a complete batch whose bytes do not match its CRC-32C.
 * - `bad_length`: a length field that cannot be right (too small, over the limit, or past EOF)
 *   with valid batches after it.
 * - `bad_magic`: the batch marker is wrong where a batch should start, with valid batches after it.
 * - `bad_record_count`: a batch that claims zero records.
 * - `torn_tail`: the file ends inside the last batch (an interrupted append).
 * - `trailing_garbage`: bytes after the last valid batch that do not start a batch.
 * - `offset_regression`: a valid batch whose offsets overlap or precede the batch before it.
 */
export type ProblemKind =
  | "bad_segment_header"
  | "crc_mismatch"
  | "bad_length"
  | "bad_magic"
  | "bad_record_count"
  | "torn_tail"
  | "trailing_garbage"
  | "offset_regression";

export interface ScanProblem {
  kind: ProblemKind;
  code: LanceErrorCode;
  /** First bad byte, from the start of the file. */
  position: number;
  /** Bytes from `position` to the next valid batch (or to the end of the file). */
  length: number;
  message: string;
}

export interface BatchInfo {
  position: number;
  size: number;
  baseOffset: number;
  recordCount: number;
  /** One past the batch's last record. */
  nextOffset: number;
  firstTimestampNs: bigint;
  lastTimestampNs: bigint;
  flags: number;
  payloadLength: number;
}

/** Offsets [from, to) that no batch covers, between two batches of the same segment. */
export interface OffsetGap {
  from: number;
  to: number;
}

export interface SegmentScan {
  fileSize: number;
  header: SegmentHeader | null;
  /** Valid batches in the whole file, including any after damage. */
  batchCount: number;
  recordCount: number;
  firstOffset: number | null;
  /** One past the last record of the last valid batch. */
  nextOffset: number | null;
  minTimestampNs: bigint | null;
  maxTimestampNs: bigint | null;
  /** Byte length of the undamaged prefix: header plus every batch before the first problem. */
  validPrefixBytes: number;
  prefixBatchCount: number;
  prefixRecordCount: number;
  /** One past the last record of the undamaged prefix (the header base offset when it is empty). */
  prefixNextOffset: number | null;
  problems: ScanProblem[];
  gaps: OffsetGap[];
  /** True when every problem is one region that runs to the end of the file. */
  damageAtTailOnly: boolean;
  ok: boolean;
}

export interface ScanOptions {
  /** Base offset to assume when the header is unreadable (e.g. from the file name). */
  baseOffset?: number;
  maxBatchPayload?: number;
  /** Called for every valid batch, in file order; `inPrefix` is false once damage was seen. */
  onBatch?: (batch: BatchInfo, inPrefix: boolean) => void;
  /** Called as the scan advances, with the byte position reached. */
  onProgress?: (position: number, fileSize: number) => void;
}

const PROBLEM_CODES: Record<ProblemKind, LanceErrorCode> = {
  bad_segment_header: "LNC_BAD_HEADER",
  crc_mismatch: "LNC_CRC_MISMATCH",
  bad_length: "LNC_BAD_LENGTH",
  bad_magic: "LNC_BAD_MAGIC",
  bad_record_count: "LNC_BAD_HEADER",
  torn_tail: "LNC_TORN_TAIL",
  trailing_garbage: "LNC_TORN_TAIL",
  offset_regression: "LNC_OFFSET_REGRESSION",
};

const PROGRESS_EVERY = 16 * 1024 * 1024;

/** What is wrong with the batch at `pos`, or null when it is a complete, valid batch. */
type BatchCheck = { ok: true; length: number } | { ok: false; kind: ProblemKind; why: string };

function checkBatchAt(src: ByteSource, pos: number, maxLength: number): BatchCheck {
  const remaining = src.size - pos;
  if (remaining < BATCH_HEADER_SIZE) {
    return { ok: false, kind: "torn_tail", why: `${remaining} bytes left, a batch header needs ${BATCH_HEADER_SIZE}` };
  }
  const { buf, at } = src.window(pos, BATCH_HEADER_SIZE);
  const length = buf.readUInt32LE(at);
  const magic = buf.readUInt16LE(at + 36);
  if (magic !== BATCH_MAGIC) {
    return { ok: false, kind: "bad_magic", why: `batch marker is 0x${magic.toString(16).padStart(4, "0")}, expected 0x424c ("LB")` };
  }
  if (length < BATCH_LENGTH_OVERHEAD || length > maxLength) {
    return { ok: false, kind: "bad_length", why: `batch length ${length} is outside ${BATCH_LENGTH_OVERHEAD}..${maxLength}` };
  }
  if (length + 4 > remaining) {
    return { ok: false, kind: "torn_tail", why: `batch of ${length + 4} bytes runs past the end of the file (${remaining} bytes left)` };
  }
  const w = src.window(pos, length + 4);
  const stored = w.buf.readUInt32LE(w.at + 4);
  const actual = crc32c(w.buf.subarray(w.at + 8, w.at + 4 + length));
  if (stored !== actual) {
    return {
      ok: false,
      kind: "crc_mismatch",
      why: `batch checksum mismatch: stored 0x${stored.toString(16).padStart(8, "0")}, computed 0x${actual.toString(16).padStart(8, "0")}`,
    };
  }
  if (w.buf.readUInt32LE(w.at + 16) === 0) {
    return { ok: false, kind: "bad_record_count", why: "batch claims 0 records" };
  }
  if (w.buf.readBigUInt64LE(w.at + 8) > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { ok: false, kind: "bad_length", why: "batch base offset is beyond 2^53-1" };
  }
  return { ok: true, length };
}

/** First position after `from` where a complete, valid batch starts; -1 if none. */
function findNextValidBatch(src: ByteSource, from: number, maxLength: number): number {
  const CHUNK = 1024 * 1024;
  const marker = Buffer.from([BATCH_MAGIC & 0xff, BATCH_MAGIC >> 8]);
  // A batch at q carries its marker at q+36: find markers, then check each candidate fully.
  let searchFrom = from + 1 + 36;
  while (searchFrom + 2 <= src.size) {
    const len = Math.min(CHUNK, src.size - searchFrom);
    const { buf, at } = src.window(searchFrom, len);
    const candidates: number[] = [];
    for (let idx = buf.indexOf(marker, at); idx !== -1 && idx + 2 <= at + len; idx = buf.indexOf(marker, idx + 1)) {
      candidates.push(searchFrom + (idx - at) - 36);
    }
    for (const candidate of candidates) {
      if (checkBatchAt(src, candidate, maxLength).ok) return candidate;
    }
    // Overlap by one byte so a marker split across two chunks is still seen.
    searchFrom += Math.max(1, len - 1);
  }
  return -1;
}

/** Validates every batch of a segment held in memory. Never throws on bad data. */
export function scanSegmentBytes(bytes: Uint8Array, options: ScanOptions = {}): SegmentScan {
  return scanSource(bufferSource(bytes), options);
}

/** Validates every batch of a segment file with large sequential reads. */
export function scanSegmentFile(path: string, options: ScanOptions = {}): SegmentScan {
  const src = new FileSource(path);
  try {
    return scanSource(src, options);
  } finally {
    src.close();
  }
}

export function scanSource(src: ByteSource, options: ScanOptions = {}): SegmentScan {
  const maxLength = BATCH_LENGTH_OVERHEAD + (options.maxBatchPayload ?? DEFAULT_MAX_BATCH_PAYLOAD);
  const problems: ScanProblem[] = [];
  const gaps: OffsetGap[] = [];
  const addProblem = (kind: ProblemKind, position: number, length: number, why: string) => {
    problems.push({ kind, code: PROBLEM_CODES[kind], position, length, message: why });
  };

  let header: SegmentHeader | null = null;
  if (src.size < SEGMENT_HEADER_SIZE) {
    addProblem("bad_segment_header", 0, src.size, `file is ${src.size} bytes, shorter than the ${SEGMENT_HEADER_SIZE}-byte segment header`);
  } else {
    const { buf, at } = src.window(0, SEGMENT_HEADER_SIZE);
    try {
      header = decodeSegmentHeader(buf.subarray(at, at + SEGMENT_HEADER_SIZE));
    } catch (err) {
      const why = err instanceof LanceError ? err.message : String(err);
      addProblem("bad_segment_header", 0, SEGMENT_HEADER_SIZE, why);
    }
  }

  let expected: number | null = header?.baseOffset ?? options.baseOffset ?? null;
  const scan: SegmentScan = {
    fileSize: src.size,
    header,
    batchCount: 0,
    recordCount: 0,
    firstOffset: null,
    nextOffset: null,
    minTimestampNs: null,
    maxTimestampNs: null,
    validPrefixBytes: header ? SEGMENT_HEADER_SIZE : 0,
    prefixBatchCount: 0,
    prefixRecordCount: 0,
    prefixNextOffset: expected,
    problems,
    gaps,
    damageAtTailOnly: false,
    ok: false,
  };

  let inPrefix = header !== null;
  let pos = Math.min(SEGMENT_HEADER_SIZE, src.size);
  let nextProgress = PROGRESS_EVERY;
  while (pos < src.size) {
    const check = checkBatchAt(src, pos, maxLength);
    if (!check.ok) {
      inPrefix = false;
      const resume = findNextValidBatch(src, pos, maxLength);
      if (resume === -1) {
        // Nothing valid follows: the damage is the tail of the file.
        const kind = check.kind === "bad_magic" || check.kind === "bad_length" ? "trailing_garbage" : check.kind;
        const why = kind === "trailing_garbage" ? `${src.size - pos} bytes after the last valid batch are not a batch (${check.why})` : check.why;
        addProblem(kind, pos, src.size - pos, why);
        break;
      }
      addProblem(check.kind, pos, resume - pos, `${check.why}; valid batches resume at byte ${resume}`);
      pos = resume;
      continue;
    }

    const size = check.length + 4;
    const { buf, at } = src.window(pos, BATCH_HEADER_SIZE);
    const batch: BatchInfo = {
      position: pos,
      size,
      baseOffset: Number(buf.readBigUInt64LE(at + 8)),
      recordCount: buf.readUInt32LE(at + 16),
      nextOffset: 0,
      firstTimestampNs: buf.readBigUInt64LE(at + 20),
      lastTimestampNs: buf.readBigUInt64LE(at + 28),
      flags: buf.readUInt16LE(at + 38),
      payloadLength: size - BATCH_HEADER_SIZE,
    };
    batch.nextOffset = batch.baseOffset + batch.recordCount;

    if (expected !== null && batch.baseOffset < expected) {
      inPrefix = false;
      addProblem("offset_regression", pos, size, `batch starts at offset ${batch.baseOffset}, but offsets up to ${expected - 1} are already used`);
      pos += size;
      continue;
    }
    if (expected !== null && batch.baseOffset > expected) gaps.push({ from: expected, to: batch.baseOffset });
    expected = batch.nextOffset;

    scan.batchCount++;
    scan.recordCount += batch.recordCount;
    scan.firstOffset ??= batch.baseOffset;
    scan.nextOffset = batch.nextOffset;
    const lo = batch.firstTimestampNs < batch.lastTimestampNs ? batch.firstTimestampNs : batch.lastTimestampNs;
    const hi = batch.firstTimestampNs < batch.lastTimestampNs ? batch.lastTimestampNs : batch.firstTimestampNs;
    if (scan.minTimestampNs === null || lo < scan.minTimestampNs) scan.minTimestampNs = lo;
    if (scan.maxTimestampNs === null || hi > scan.maxTimestampNs) scan.maxTimestampNs = hi;
    if (inPrefix) {
      scan.prefixBatchCount++;
      scan.prefixRecordCount += batch.recordCount;
      scan.prefixNextOffset = batch.nextOffset;
      scan.validPrefixBytes = pos + size;
    }
    options.onBatch?.(batch, inPrefix);
    pos += size;
    if (options.onProgress && pos >= nextProgress) {
      options.onProgress(pos, src.size);
      nextProgress = pos + PROGRESS_EVERY;
    }
  }
  options.onProgress?.(src.size, src.size);
  if (header === null && scan.batchCount === 0 && problems.length > 1) {
    // No header and no batch anywhere: one finding about the whole file, not a cascade.
    problems.splice(1);
    problems[0]!.length = src.size;
  }

  scan.ok = problems.length === 0;
  const only = problems.length === 1 ? problems[0]! : null;
  scan.damageAtTailOnly = only !== null && only.kind !== "bad_segment_header" && only.position + only.length === src.size;
  return scan;
}
