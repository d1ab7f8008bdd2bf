import { Packr } from "msgpackr";
import { crc32c, LanceError } from "@lance/segment-format";

/**
 * Node-to-node frames: u32 BE body length | u32 BE CRC-32C of body | body (msgpack).
 * Error codes: LNC_PEER_FRAME_TOO_LARGE, LNC_PEER_FRAME_CRC, LNC_PEER_FRAME_DECODE,
 * LNC_PEER_FRAME_ENCODE.
 */
export const PEER_FRAME_HEADER_BYTES = 8;
export const DEFAULT_MAX_PEER_FRAME_BYTES = 64 * 1024 * 1024;

// Plain msgpack: no records/structures extensions. Uint8Array encodes as bin and decodes as
// a Buffer; copyBuffers so a decoded payload does not pin the whole socket chunk in memory.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  mapsAsObjects: true,
  copyBuffers: true,
  int64AsType: "number",
});

export function encodePeerFrame(value: unknown): Buffer {
  let body: Buffer;
  try {
    body = packr.pack(value);
  } catch (err) {
    throw new LanceError("LNC_PEER_FRAME_ENCODE", `cannot encode peer message: ${(err as Error).message}`, { cause: err });
  }
  const frame = Buffer.allocUnsafe(PEER_FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.writeUInt32BE(crc32c(body), 4);
  body.copy(frame, PEER_FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Streaming decoder: feed socket chunks of any size; each complete frame is passed to `emit`
 * in order. A bad frame throws a LanceError and the decoder stays failed (close the connection).
 */
export class PeerFrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed: LanceError | null = null;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_PEER_FRAME_BYTES) {}

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array, emit: (value: unknown) => void): void {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    while (this.buffered >= PEER_FRAME_HEADER_BYTES) {
      const head = this.peek(PEER_FRAME_HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        throw this.fail("LNC_PEER_FRAME_TOO_LARGE", `peer frame of ${length} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
      }
      // Wait for the whole frame before copying, so a large frame is joined once.
      if (this.buffered < PEER_FRAME_HEADER_BYTES + length) return;
      const expected = head.readUInt32BE(4);
      const body = this.take(PEER_FRAME_HEADER_BYTES + length).subarray(PEER_FRAME_HEADER_BYTES);
      const actual = crc32c(body);
      if (actual !== expected) {
        throw this.fail("LNC_PEER_FRAME_CRC", `peer frame CRC mismatch: header 0x${expected.toString(16)}, body 0x${actual.toString(16)}`);
      }
      let value: unknown;
      try {
        value = packr.unpack(body);
      } catch (err) {
        throw this.fail("LNC_PEER_FRAME_DECODE", `undecodable peer frame: ${(err as Error).message}`, err);
      }
      emit(value);
    }
  }

  private fail(code: string, message: string, cause?: unknown): LanceError {
    this.failed = new LanceError(code, message, cause === undefined ? undefined : { cause });
    this.chunks = [];
    this.buffered = 0;
    return this.failed;
  }

  /** The first n buffered bytes, without consuming them (n <= buffered). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  /** Removes and returns the first n buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const need = n - filled;
        if (c.length <= need) {
          c.copy(out, filled);
          filled += c.length;
          this.chunks.shift();
        } else {
          c.copy(out, filled, 0, need);
          filled += need;
          this.chunks[0] = c.subarray(need);
        }
      }
    }
    this.buffered -= n;
    return out;
  }
}
