import { LanceError } from "@lance/segment-format";

/**
 * The body of an ingest command (cluster/commands.ts): where it goes and which offsets it
 * takes, so that applying it again after a restart is idempotent by offset.
 *
 *   0 u32 topic id | 4 u64 base offset | 12 u32 record count | 16 u64 timestamp ns
 *   24 u16 flags   | 26 payload
 */
const HEADER = 26;

export interface IngestEntry {
  topicId: number;
  baseOffset: number;
  recordCount: number;
  timestampNs: bigint;
  flags: number;
  payload: Uint8Array;
}

/** The entry as two parts (header, then the producer's payload untouched): the WAL writes them back to back, sparing a copy. */
export function encodeIngestEntry(e: IngestEntry): [Uint8Array, Uint8Array] {
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32LE(e.topicId, 0);
  head.writeUInt32LE(e.baseOffset % 0x1_0000_0000, 4);
  head.writeUInt32LE(Math.floor(e.baseOffset / 0x1_0000_0000), 8);
  head.writeUInt32LE(e.recordCount, 12);
  head.writeBigUInt64LE(e.timestampNs, 16);
  head.writeUInt16LE(e.flags, 24);
  return [head, e.payload];
}

export function decodeIngestEntry(bytes: Uint8Array, index: number): IngestEntry {
  if (bytes.byteLength < HEADER) throw new LanceError("LNC_WAL_BAD_ENTRY", `WAL entry ${index} is ${bytes.byteLength} bytes, shorter than an ingest header`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    topicId: buf.readUInt32LE(0),
    baseOffset: buf.readUInt32LE(4) + buf.readUInt32LE(8) * 0x1_0000_0000,
    recordCount: buf.readUInt32LE(12),
    timestampNs: buf.readBigUInt64LE(16),
    flags: buf.readUInt16LE(24),
    payload: buf.subarray(HEADER),
  };
}
