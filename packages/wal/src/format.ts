import { crc32c } from "@lance/segment-format";

/**
 * WAL on-disk format v1 (docs/wal-format.md has the byte-by-byte description).
 * All integers little-endian. Frames start on 8-byte boundaries, so a resync after damage
 * only has to look at aligned positions.
 */

export const FILE_MAGIC = Buffer.from("LANCEWAL", "ascii");
export const FILE_VERSION = 1;
export const FILE_HEADER_SIZE = 48;

export const FRAME_MAGIC = Buffer.from("LWAL", "ascii");
export const FRAME_HEADER_SIZE = 40;
export const FRAME_ALIGN = 8;

/** Entry types 0x00-0xEF belong to the caller; 0xF0-0xFF are the WAL's own records. */
export const MAX_USER_TYPE = 0xef;
/** "Every entry with an index above `index` is void" (Raft conflict truncation, torn-tail seal). */
export const TYPE_TRUNCATE = 0xfd;
/** "Indexes (previous + 1) ..= `index` were lost and skipped by `lnc repair --skip-corrupt`". */
export const TYPE_GAP = 0xfe;

export interface FileHeader {
  segmentSize: number;
  firstIndex: number;
  epoch: number;
}

export interface Frame {
  type: number;
  epoch: number;
  index: number;
  term: number;
  payloadOffset: number;
  payloadLength: number;
  /** Total bytes the frame occupies, padding included. */
  size: number;
}

export type FrameParse =
  | { kind: "frame"; frame: Frame }
  /** Fewer than a frame header's worth of bytes left in the file. */
  | { kind: "slack" }
  /** A frame header's worth of zero bytes: never-written (preallocated) space. */
  | { kind: "zero" }
  | { kind: "bad"; reason: string };

export const NO_MAGIC = "no frame magic";

export function alignUp(n: number): number {
  return Math.ceil(n / FRAME_ALIGN) * FRAME_ALIGN;
}

export function frameSize(payloadLength: number): number {
  return alignUp(FRAME_HEADER_SIZE + payloadLength);
}

/** The largest payload a file of `segmentSize` bytes can hold in one frame. */
export function maxPayloadFor(segmentSize: number): number {
  return Math.floor((segmentSize - FILE_HEADER_SIZE) / FRAME_ALIGN) * FRAME_ALIGN - FRAME_HEADER_SIZE;
}

function readU64(view: DataView, at: number): number | null {
  const v = view.getBigUint64(at, true);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A frame payload: one buffer, or parts stored back to back (saves the caller a copy). */
export type Payload = Uint8Array | readonly Uint8Array[];

export function payloadLength(p: Payload): number {
  if (p instanceof Uint8Array) return p.byteLength;
  let n = 0;
  for (const part of p) n += part.byteLength;
  return n;
}

/** The payload as one buffer (copies only when it is in parts). */
export function joinPayload(p: Payload): Uint8Array {
  return p instanceof Uint8Array ? p : Buffer.concat(p);
}

export interface FrameFields {
  type: number;
  epoch: number;
  index: number;
  term: number;
  payload: Payload;
}

const TWO_32 = 2 ** 32;

/** u64 little-endian from a safe integer, without going through BigInt (hot path). */
function setU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v % TWO_32, true);
  view.setUint32(at + 4, Math.floor(v / TWO_32), true);
}

/**
 * Writes one frame into `out` at `at` and returns its size. Every byte of the frame, padding
 * included, is written. `view` may be passed when encoding many frames into one buffer.
 */
export function encodeFrameInto(out: Uint8Array, at: number, f: FrameFields, view: DataView = viewOf(out)): number {
  const len = payloadLength(f.payload);
  const size = frameSize(len);
  out.set(FRAME_MAGIC, at);
  view.setUint32(at + 8, len, true);
  view.setUint32(at + 12, f.type & 0xff, true);
  setU64(view, at + 16, f.epoch);
  setU64(view, at + 24, f.index);
  setU64(view, at + 32, f.term);
  if (f.payload instanceof Uint8Array) out.set(f.payload, at + FRAME_HEADER_SIZE);
  else {
    let p = at + FRAME_HEADER_SIZE;
    for (const part of f.payload) {
      out.set(part, p);
      p += part.byteLength;
    }
  }
  out.fill(0, at + FRAME_HEADER_SIZE + len, at + size);
  // A plain Uint8Array view is much cheaper to create than Buffer#subarray on this hot path.
  view.setUint32(at + 4, crc32c(new Uint8Array(out.buffer, out.byteOffset + at + 8, size - 8)), true);
  return size;
}

export function encodeFrame(f: FrameFields): Buffer {
  const out = Buffer.alloc(frameSize(payloadLength(f.payload)));
  encodeFrameInto(out, 0, f);
  return out;
}

function isZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Parses the frame at `at` in a file image of `buf` (the whole file). Never throws.
 * `checkCrc: false` is for cheap pre-filtering; callers must check the CRC before trusting it.
 */
export function parseFrameAt(buf: Uint8Array, at: number, checkCrc = true): FrameParse {
  if (buf.byteLength - at < FRAME_HEADER_SIZE) return { kind: "slack" };
  if (
    buf[at] !== FRAME_MAGIC[0] ||
    buf[at + 1] !== FRAME_MAGIC[1] ||
    buf[at + 2] !== FRAME_MAGIC[2] ||
    buf[at + 3] !== FRAME_MAGIC[3]
  ) {
    if (isZero(buf, at, at + FRAME_HEADER_SIZE)) return { kind: "zero" };
    return { kind: "bad", reason: NO_MAGIC };
  }
  const view = viewOf(buf);
  const payloadLength = view.getUint32(at + 8, true);
  const size = frameSize(payloadLength);
  if (size > buf.byteLength - at) {
    return { kind: "bad", reason: `frame length ${payloadLength} runs past the end of the file` };
  }
  if (checkCrc) {
    const stored = view.getUint32(at + 4, true);
    const actual = crc32c(buf.subarray(at + 8, at + size));
    if (stored !== actual) return { kind: "bad", reason: "CRC mismatch" };
  }
  const epoch = readU64(view, at + 16);
  const index = readU64(view, at + 24);
  const term = readU64(view, at + 32);
  if (epoch === null || index === null || term === null || buf[at + 13] !== 0 || buf[at + 14] !== 0 || buf[at + 15] !== 0) {
    return { kind: "bad", reason: "frame fields out of range" };
  }
  return {
    kind: "frame",
    frame: { type: buf[at + 12]!, epoch, index, term, payloadOffset: at + FRAME_HEADER_SIZE, payloadLength, size },
  };
}

export function encodeFileHeader(h: FileHeader): Buffer {
  const out = Buffer.alloc(FILE_HEADER_SIZE);
  const view = viewOf(out);
  out.set(FILE_MAGIC, 0);
  view.setUint16(8, FILE_VERSION, true);
  view.setUint16(10, FILE_HEADER_SIZE, true);
  view.setBigUint64(16, BigInt(h.segmentSize), true);
  view.setBigUint64(24, BigInt(h.firstIndex), true);
  view.setBigUint64(32, BigInt(h.epoch), true);
  view.setUint32(44, crc32c(out.subarray(0, 44)), true);
  return out;
}

export type HeaderParse = { ok: true; header: FileHeader } | { ok: false; reason: string };

export function decodeFileHeader(buf: Uint8Array): HeaderParse {
  if (buf.byteLength < FILE_HEADER_SIZE) return { ok: false, reason: `file is shorter than the ${FILE_HEADER_SIZE}-byte header` };
  if (!FILE_MAGIC.equals(buf.subarray(0, 8))) return { ok: false, reason: "no WAL file magic" };
  const view = viewOf(buf);
  if (view.getUint32(44, true) !== crc32c(buf.subarray(0, 44))) return { ok: false, reason: "file header CRC mismatch" };
  const version = view.getUint16(8, true);
  if (version !== FILE_VERSION) return { ok: false, reason: `unsupported WAL format version ${version}` };
  const segmentSize = readU64(view, 16);
  const firstIndex = readU64(view, 24);
  const epoch = readU64(view, 32);
  if (segmentSize === null || firstIndex === null || epoch === null || firstIndex < 1) {
    return { ok: false, reason: "file header fields out of range" };
  }
  return { ok: true, header: { segmentSize, firstIndex, epoch } };
}
