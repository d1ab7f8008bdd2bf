import { readFileSync } from "node:fs";
import { LanceError, crc32c, writeFileAtomic, SEGMENT_HEADER_SIZE, type BatchInfo } from "@lance/segment-format";

/**
 * Per-segment sparse index `{stem}.idx` (docs/storage-format.md): a checksummed header and one
 * 24-byte entry per ~intervalBytes of segment data. Always rebuildable from the segment alone.
 */
export const INDEX_MAGIC = 0x58434e4c; // "LNCX" as bytes
export const INDEX_VERSION = 1;
export const INDEX_HEADER_SIZE = 64;
export const INDEX_ENTRY_SIZE = 24;
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096;

export interface IndexEntry {
  /** Base offset of the batch the entry points at. */
  offset: number;
  /** File position of that batch. */
  position: number;
  /** Newest timestamp of any batch up to and including this one. */
  maxTimestampNs: bigint;
}

export interface SegmentIndexSummary {
  baseOffset: number;
  /** Segment bytes the index describes: the end of the last batch it saw. */
  coveredBytes: number;
  /** One past the last record in the covered bytes. */
  nextOffset: number;
  /** Oldest and newest timestamps in the covered bytes (0 when empty). */
  minTimestampNs: bigint;
  maxTimestampNs: bigint;
  batchCount: number;
  intervalBytes: number;
}

/** Accumulates entries as batches are appended (or scanned) in file order. */
export class SegmentIndexBuilder {
  readonly entries: IndexEntry[] = [];
  private summary: SegmentIndexSummary;
  private lastEntryPosition = -Infinity;

  constructor(baseOffset: number, intervalBytes = DEFAULT_INDEX_INTERVAL_BYTES) {
    this.summary = { baseOffset, coveredBytes: SEGMENT_HEADER_SIZE, nextOffset: baseOffset, minTimestampNs: 0n, maxTimestampNs: 0n, batchCount: 0, intervalBytes };
  }

  add(batch: Pick<BatchInfo, "baseOffset" | "nextOffset" | "position" | "size" | "firstTimestampNs" | "lastTimestampNs">): void {
    const s = this.summary;
    const [lo, hi] = batch.lastTimestampNs > batch.firstTimestampNs ? [batch.firstTimestampNs, batch.lastTimestampNs] : [batch.lastTimestampNs, batch.firstTimestampNs];
    if (s.batchCount === 0 || lo < s.minTimestampNs) s.minTimestampNs = lo;
    if (hi > s.maxTimestampNs) s.maxTimestampNs = hi;
    if (batch.position - this.lastEntryPosition >= s.intervalBytes) {
      this.entries.push({ offset: batch.baseOffset, position: batch.position, maxTimestampNs: s.maxTimestampNs });
      this.lastEntryPosition = batch.position;
    }
    s.coveredBytes = batch.position + batch.size;
    s.nextOffset = batch.nextOffset;
    s.batchCount++;
  }

  get state(): Readonly<SegmentIndexSummary> {
    return this.summary;
  }

  encode(): Uint8Array {
    return encodeSegmentIndex(this.summary, this.entries);
  }

  /** Writes the index atomically to `path`. */
  writeTo(path: string): void {
    writeFileAtomic(path, this.encode());
  }
}

export function encodeSegmentIndex(s: SegmentIndexSummary, entries: readonly IndexEntry[]): Uint8Array {
  const buf = Buffer.alloc(INDEX_HEADER_SIZE + entries.length * INDEX_ENTRY_SIZE);
  buf.writeUInt32LE(INDEX_MAGIC, 0);
  buf.writeUInt16LE(INDEX_VERSION, 4);
  buf.writeUInt16LE(INDEX_ENTRY_SIZE, 6);
  buf.writeBigUInt64LE(BigInt(s.baseOffset), 8);
  buf.writeBigUInt64LE(BigInt(s.coveredBytes), 16);
  buf.writeBigUInt64LE(BigInt(s.nextOffset), 24);
  buf.writeBigUInt64LE(s.minTimestampNs, 32);
  buf.writeBigUInt64LE(s.maxTimestampNs, 40);
  buf.writeUInt32LE(entries.length, 48);
  buf.writeUInt32LE(s.intervalBytes, 52);
  buf.writeUInt32LE(s.batchCount, 56);
  let at = INDEX_HEADER_SIZE;
  for (const e of entries) {
    buf.writeBigUInt64LE(BigInt(e.offset), at);
    buf.writeBigUInt64LE(BigInt(e.position), at + 8);
    buf.writeBigUInt64LE(e.maxTimestampNs, at + 16);
    at += INDEX_ENTRY_SIZE;
  }
  buf.writeUInt32LE(indexCrc(buf), 60);
  return buf;
}

function indexCrc(buf: Uint8Array): number {
  return crc32c(buf.subarray(0, 60), buf.subarray(INDEX_HEADER_SIZE));
}

/** A decoded, CRC-checked `.idx`. */
export class SegmentIndex {
  constructor(readonly summary: SegmentIndexSummary, readonly entries: readonly IndexEntry[]) {}

  /** Decodes and checks an index; throws LNC_INDEX_CORRUPT naming what is wrong. */
  static decode(bytes: Uint8Array, what = "index"): SegmentIndex {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const corrupt = (why: string): never => {
      throw new LanceError("LNC_INDEX_CORRUPT", `${what}: ${why}; rebuild it with lnc rebuild-index`);
    };
    if (buf.byteLength < INDEX_HEADER_SIZE) corrupt(`${buf.byteLength} bytes is shorter than the ${INDEX_HEADER_SIZE}-byte header`);
    if (buf.readUInt32LE(0) !== INDEX_MAGIC) corrupt(`not a segment index (magic 0x${buf.readUInt32LE(0).toString(16)})`);
    if (buf.readUInt16LE(4) !== INDEX_VERSION || buf.readUInt16LE(6) !== INDEX_ENTRY_SIZE) corrupt(`unsupported index version ${buf.readUInt16LE(4)}`);
    const count = buf.readUInt32LE(48);
    if (buf.byteLength !== INDEX_HEADER_SIZE + count * INDEX_ENTRY_SIZE) {
      corrupt(`size ${buf.byteLength} does not match its ${count} entries (expected ${INDEX_HEADER_SIZE + count * INDEX_ENTRY_SIZE})`);
    }
    const stored = buf.readUInt32LE(60);
    const actual = indexCrc(buf);
    if (stored !== actual) corrupt(`checksum mismatch (stored 0x${stored.toString(16).padStart(8, "0")}, computed 0x${actual.toString(16).padStart(8, "0")})`);
    const summary: SegmentIndexSummary = {
      baseOffset: Number(buf.readBigUInt64LE(8)),
      coveredBytes: Number(buf.readBigUInt64LE(16)),
      nextOffset: Number(buf.readBigUInt64LE(24)),
      minTimestampNs: buf.readBigUInt64LE(32),
      maxTimestampNs: buf.readBigUInt64LE(40),
      intervalBytes: buf.readUInt32LE(52),
      batchCount: buf.readUInt32LE(56),
    };
    const entries: IndexEntry[] = [];
    for (let i = 0, at = INDEX_HEADER_SIZE; i < count; i++, at += INDEX_ENTRY_SIZE) {
      entries.push({ offset: Number(buf.readBigUInt64LE(at)), position: Number(buf.readBigUInt64LE(at + 8)), maxTimestampNs: buf.readBigUInt64LE(at + 16) });
    }
    for (let i = 1; i < entries.length; i++) {
      if (entries[i]!.offset <= entries[i - 1]!.offset || entries[i]!.position <= entries[i - 1]!.position) corrupt(`entry ${i} is out of order`);
    }
    return new SegmentIndex(summary, entries);
  }

  static load(path: string): SegmentIndex {
    return SegmentIndex.decode(readFileSync(path), path);
  }

  /** Where to start reading for `offset`: the last entry at or before it, else null (the first batch). */
  startForOffset(offset: number): IndexEntry | null {
    return this.lastEntryWhere((e) => e.offset <= offset);
  }

  /** Where to start reading for `timestampNs`: the last entry whose running max is still older. */
  startForTime(timestampNs: bigint): IndexEntry | null {
    return this.lastEntryWhere((e) => e.maxTimestampNs < timestampNs);
  }

  /** Binary search for the last entry satisfying `pred`, which must hold for a prefix of the entries. */
  private lastEntryWhere(pred: (e: IndexEntry) => boolean): IndexEntry | null {
    let lo = 0;
    let hi = this.entries.length - 1;
    let found: IndexEntry | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.entries[mid]!;
      if (pred(e)) {
        found = e;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
