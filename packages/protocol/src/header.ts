import { Flag, HEADER_SIZE, MAGIC, PROTOCOL_VERSION } from "./constants.js";
import { crc32 } from "./crc.js";
import { ProtocolError } from "./errors.js";
import { checkU32, checkU64, checkU8, checkU16, view } from "./wire-values.js";

/** The 44-byte LWP header, every field as it is on the wire. */
export interface FrameHeader {
  version: number;
  flags: number;
  /** Bytes 6..7 as a little-endian u16. Senders write 0; receivers do not check it. */
  reserved: number;
  headerCrc: number;
  /** Ingest/Ack: batch number. Control: the command code (low byte). */
  batchId: bigint;
  timestampNs: bigint;
  recordCount: number;
  payloadLength: number;
  payloadCrc: number;
  /** Ingest target topic; 0 elsewhere. Upstream docs call it "padding". */
  topicId: number;
}

/** The fields a sender chooses; version, CRCs and length are derived. */
export interface HeaderFields {
  flags: number;
  batchId?: bigint;
  timestampNs?: bigint;
  recordCount?: number;
  topicId?: number;
  reserved?: number;
}

/** CRC-32 of header bytes 0..7: magic, version, flags, reserved. */
export function headerCrc(flags: number, reserved = 0, version = PROTOCOL_VERSION): number {
  const b = new Uint8Array(8);
  b.set(MAGIC, 0);
  b[4] = version;
  b[5] = flags;
  b[6] = reserved & 0xff;
  b[7] = reserved >>> 8;
  return crc32(b);
}

const headerCrcByFlags = new Map<number, number>();

function cachedHeaderCrc(flags: number): number {
  let crc = headerCrcByFlags.get(flags);
  if (crc === undefined) {
    crc = headerCrc(flags);
    headerCrcByFlags.set(flags, crc);
  }
  return crc;
}

/** Writes a complete header for a payload of `payloadLength` bytes with CRC `payloadCrc`. */
export function writeHeader(target: Uint8Array, fields: HeaderFields, payloadLength: number, payloadCrc: number): void {
  const flags = checkU8("flags", fields.flags);
  const reserved = checkU16("reserved", fields.reserved ?? 0);
  const v = view(target);
  target.set(MAGIC, 0);
  v.setUint8(4, PROTOCOL_VERSION);
  v.setUint8(5, flags);
  v.setUint16(6, reserved, true);
  v.setUint32(8, reserved === 0 ? cachedHeaderCrc(flags) : headerCrc(flags, reserved), true);
  v.setBigUint64(12, checkU64("batchId", fields.batchId ?? 0n), true);
  v.setBigUint64(20, checkU64("timestampNs", fields.timestampNs ?? 0n), true);
  v.setUint32(28, checkU32("recordCount", fields.recordCount ?? 0), true);
  v.setUint32(32, checkU32("payloadLength", payloadLength), true);
  v.setUint32(36, payloadCrc, true);
  v.setUint32(40, checkU32("topicId", fields.topicId ?? 0), true);
}

/**
 * Checks magic, version and the header CRC of the first 44 bytes of `bytes`, then reads the
 * header. Throws the matching fatal ProtocolError. Does not look at the payload.
 */
export function parseHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.byteLength < HEADER_SIZE) {
    throw new ProtocolError("LNC_PROTO_TRUNCATED", `frame header needs ${HEADER_SIZE} bytes, have ${bytes.byteLength}`);
  }
  checkMagicAndVersion(bytes);
  const v = view(bytes);
  const flags = v.getUint8(5);
  const reserved = v.getUint16(6, true);
  const stored = v.getUint32(8, true);
  const expected = reserved === 0 ? cachedHeaderCrc(flags) : headerCrc(flags, reserved);
  if (stored !== expected) {
    throw new ProtocolError("LNC_PROTO_HEADER_CRC", `header CRC mismatch: stored 0x${hex32(stored)}, computed 0x${hex32(expected)}`);
  }
  return {
    version: PROTOCOL_VERSION,
    flags,
    reserved,
    headerCrc: stored,
    batchId: v.getBigUint64(12, true),
    timestampNs: v.getBigUint64(20, true),
    recordCount: v.getUint32(28, true),
    payloadLength: v.getUint32(32, true),
    payloadCrc: v.getUint32(36, true),
    topicId: v.getUint32(40, true),
  };
}

/**
 * Checks whatever of magic (bytes 0..3) and version (byte 4) `bytes` already holds, so
 * garbage is refused as soon as it arrives instead of after 44 bytes.
 */
export function checkMagicAndVersion(bytes: Uint8Array): void {
  const n = Math.min(bytes.byteLength, MAGIC.byteLength);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new ProtocolError("LNC_PROTO_BAD_MAGIC", `bad magic: expected 4C 41 4E 43 ("LANC"), got ${hexBytes(bytes.subarray(0, n))}`);
    }
  }
  if (bytes.byteLength > 4 && bytes[4] !== PROTOCOL_VERSION) {
    throw new ProtocolError("LNC_PROTO_BAD_VERSION", `unsupported protocol version ${String(bytes[4])} (expected ${PROTOCOL_VERSION})`);
  }
}

export type FrameKind = "control" | "keepalive" | "ack" | "backpressure" | "ingest" | "unknown";

/** Upstream's classification: the first matching flag wins (protocol.md §1.3). */
export function classifyFrame(header: Pick<FrameHeader, "flags" | "payloadLength">): FrameKind {
  const f = header.flags;
  if (f & Flag.Control) return "control";
  if (f & Flag.Keepalive) return "keepalive";
  if (f & Flag.Ack) return "ack";
  if (f & Flag.Backpressure) return "backpressure";
  if (f & Flag.BatchMode || header.payloadLength > 0) return "ingest";
  return "unknown";
}

function hex32(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, "0");
}

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, "0")).join(" ");
}
