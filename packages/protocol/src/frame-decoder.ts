import { DEFAULT_MAX_PAYLOAD_LENGTH, HEADER_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { type Frame, checkPayloadCrc, checkPayloadLength } from "./frame.js";
import { type FrameHeader, checkMagicAndVersion, parseHeader } from "./header.js";

export interface FrameDecoderOptions {
  /** Largest accepted `payload_length`, checked from the header before the payload is buffered. */
  maxPayloadLength?: number;
}

const EMPTY = new Uint8Array(0);

/** Beyond this many pieces of one pending payload, they are copied into a single buffer. */
const MAX_HELD_CHUNKS = 64;

/**
 * Turns a byte stream cut into arbitrary chunks into checked frames.
 *
 * ```ts
 * socket.on("data", (chunk) => {
 *   try {
 *     for (const frame of decoder.push(chunk)) handle(frame);
 *   } catch (err) {
 *     if (!isProtocolError(err)) throw err;
 *     socket.end(encodeMessage({ type: "errorResponse", message: err.replyText }));
 *   }
 * });
 * ```
 *
 * The first bad magic, version, header CRC, payload CRC or oversized length throws a fatal
 * ProtocolError; frames before it in the same chunk are yielded first. After that the decoder
 * refuses input (`LNC_PROTO_DECODER_FAILED`). Pushed chunks are kept by reference until their
 * bytes are consumed, and a payload that arrived in one chunk is a view into it: do not reuse
 * a chunk's memory after pushing it.
 */
export class FrameDecoder {
  readonly maxPayloadLength: number;
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already consumed. */
  private headOffset = 0;
  private buffered = 0;
  /** A checked header whose payload has not fully arrived. */
  private pending: FrameHeader | null = null;
  private failure: ProtocolError | undefined;
  /**
   * The pending payload, once it has arrived in so many small chunks that holding them all
   * would cost more than one buffer of its (already checked) length.
   */
  private assembly: Uint8Array | null = null;
  private assembled = 0;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH;
    if (!Number.isInteger(max) || max < 0 || max > 0xffff_ffff) {
      throw new ProtocolError("LNC_PROTO_BAD_ARGUMENT", `maxPayloadLength must be an integer in 0..2^32-1, got ${String(max)}`);
    }
    this.maxPayloadLength = max;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.buffered + this.assembled + (this.pending ? HEADER_SIZE : 0);
  }

  /** The fatal error this decoder stopped at, if any. */
  get error(): ProtocolError | undefined {
    return this.failure;
  }

  /**
   * Adds `chunk` to the stream and returns the frames it completes. The bytes are taken at
   * once; frames are checked and produced as the result is iterated, and any not iterated
   * stay buffered for the next call.
   */
  push(chunk: Uint8Array): Generator<Frame, void, undefined> {
    if (this.failure) {
      throw new ProtocolError("LNC_PROTO_DECODER_FAILED", `decoder stopped after ${this.failure.code}: ${this.failure.message}`, {
        cause: this.failure,
        replyText: this.failure.replyText,
      });
    }
    let rest = chunk;
    if (this.assembly) {
      const part = rest.subarray(0, this.assembly.byteLength - this.assembled);
      this.assembly.set(part, this.assembled);
      this.assembled += part.byteLength;
      rest = rest.subarray(part.byteLength);
    }
    if (rest.byteLength > 0) {
      this.chunks.push(rest);
      this.buffered += rest.byteLength;
    }
    return this.drain();
  }

  /** Call when the peer closed the stream: fails with `LNC_PROTO_TRUNCATED` if it ended inside a frame. */
  finish(): void {
    if (this.failure) return;
    if (this.bufferedBytes > 0) {
      const err = new ProtocolError("LNC_PROTO_TRUNCATED", `stream ended inside a frame (${this.bufferedBytes} bytes buffered)`);
      this.fail(err);
      throw err;
    }
  }

  private *drain(): Generator<Frame, void, undefined> {
    for (;;) {
      if (this.failure) return;
      let frame: Frame | null;
      try {
        frame = this.next();
      } catch (err) {
        if (err instanceof ProtocolError) this.fail(err);
        throw err;
      }
      if (frame === null) return;
      yield frame;
    }
  }

  private next(): Frame | null {
    if (this.pending === null) {
      if (this.buffered < HEADER_SIZE) {
        if (this.buffered > 0) checkMagicAndVersion(this.peek(Math.min(this.buffered, 5)));
        return null;
      }
      const header = parseHeader(this.peek(HEADER_SIZE));
      checkPayloadLength(header, this.maxPayloadLength);
      this.consume(HEADER_SIZE);
      this.pending = header;
    }
    const header = this.pending;
    let payload: Uint8Array;
    if (this.assembly) {
      if (this.assembled < this.assembly.byteLength) return null;
      payload = this.assembly;
      this.assembly = null;
      this.assembled = 0;
    } else if (this.buffered >= header.payloadLength) {
      payload = header.payloadLength === 0 ? EMPTY : this.peek(header.payloadLength);
      this.consume(header.payloadLength);
    } else {
      if (this.chunks.length > MAX_HELD_CHUNKS) this.startAssembly(header.payloadLength);
      return null;
    }
    this.pending = null;
    checkPayloadCrc(header, payload);
    return { header, payload };
  }

  /** Moves every buffered byte (fewer than `length`) into a payload buffer of `length` bytes. */
  private startAssembly(length: number): void {
    const assembly = new Uint8Array(length);
    let filled = 0;
    let offset = this.headOffset;
    for (const chunk of this.chunks) {
      assembly.set(chunk.subarray(offset), filled);
      filled += chunk.byteLength - offset;
      offset = 0;
    }
    this.chunks.length = 0;
    this.headOffset = 0;
    this.buffered = 0;
    this.assembly = assembly;
    this.assembled = filled;
  }

  /** The next `n` buffered bytes (n <= buffered), a view when they lie in one chunk. */
  private peek(n: number): Uint8Array {
    const head = this.chunks[0]!;
    if (head.byteLength - this.headOffset >= n) return head.subarray(this.headOffset, this.headOffset + n);
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.headOffset;
    for (const chunk of this.chunks) {
      const part = chunk.subarray(offset, offset + (n - filled));
      out.set(part, filled);
      filled += part.byteLength;
      offset = 0;
      if (filled === n) break;
    }
    return out;
  }

  private consume(n: number): void {
    this.buffered -= n;
    let left = n;
    while (left > 0) {
      const head = this.chunks[0]!;
      const available = head.byteLength - this.headOffset;
      if (available > left) {
        this.headOffset += left;
        return;
      }
      left -= available;
      this.chunks.shift();
      this.headOffset = 0;
    }
  }

  private fail(err: ProtocolError): void {
    this.failure = err;
    this.chunks.length = 0;
    this.headOffset = 0;
    this.buffered = 0;
    this.pending = null;
    this.assembly = null;
    this.assembled = 0;
  }
}
