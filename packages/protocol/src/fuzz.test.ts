import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { HEADER_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { type Frame, decodeFrame, encodeFrame } from "./frame.js";
import { crc32 } from "./crc.js";
import { FrameDecoder } from "./frame-decoder.js";
import { decodeMessage, encodeMessage } from "./message-codec.js";
import { framesArb, splitAt } from "./test-arbitraries.js";
import { concat } from "./test-helpers.js";

const MAX = 1 << 16;

/**
 * Feeds `chunks` and decodes every frame's message, as a server would. Returns how it ended;
 * anything thrown that is not a ProtocolError fails the test.
 */
function consume(chunks: Uint8Array[]): { frames: number; fatal: string | null; messageErrors: number } {
  const decoder = new FrameDecoder({ maxPayloadLength: MAX });
  let frames = 0;
  let messageErrors = 0;
  try {
    for (const chunk of chunks) {
      for (const frame of decoder.push(chunk)) {
        frames++;
        expect(frame.payload.byteLength).toBe(frame.header.payloadLength);
        expect(frame.payload.byteLength).toBeLessThanOrEqual(MAX);
        try {
          decodeMessage(frame);
        } catch (err) {
          if (!(err instanceof ProtocolError) || err.fatal) throw err;
          messageErrors++;
        }
      }
    }
    decoder.finish();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    expect(err.fatal).toBe(true);
    expect(decoder.error).toBeDefined();
    return { frames, fatal: err.code, messageErrors };
  }
  return { frames, fatal: null, messageErrors };
}

describe("fuzz: the decoder only ever throws typed errors and always terminates", () => {
  it("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        consume(splitAt(bytes, cuts));
      }),
      { numRuns: 2000 },
    );
  });

  it("random bytes behind a valid magic and version", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (tail) => {
        const { fatal } = consume([concat([Uint8Array.of(0x4c, 0x41, 0x4e, 0x43, 0x01), tail])]);
        // Random bytes essentially never carry a correct header CRC.
        if (tail.byteLength >= HEADER_SIZE - 5) expect(fatal).not.toBeNull();
      }),
      { numRuns: 1000 },
    );
  });

  it("valid streams with bytes flipped, dropped, inserted or cut", () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant("drop" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 50 }) }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(framesArb(6), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 10 }), (messages, mutations, cuts) => {
        let stream = concat(messages.map(encodeMessage));
        for (const m of mutations) {
          const at = m.at % (stream.byteLength + 1);
          if (m.kind === "flip" && at < stream.byteLength) {
            stream = Uint8Array.from(stream);
            stream[at]! ^= m.xor;
          } else if (m.kind === "drop") stream = concat([stream.subarray(0, at), stream.subarray(at + m.n)]);
          else if (m.kind === "insert") stream = concat([stream.subarray(0, at), m.bytes, stream.subarray(at)]);
          else if (m.kind === "truncate") stream = stream.subarray(0, at);
        }
        const result = consume(splitAt(stream, cuts));
        expect(result.frames).toBeLessThanOrEqual(messages.length + 2);
      }),
      { numRuns: 1500 },
    );
  });

  it("a single flipped bit in a frame's magic, version, first header bytes or payload is always caught", () => {
    fc.assert(
      fc.property(framesArb(1), fc.nat(), fc.integer({ min: 0, max: 7 }), (messages, pos, bit) => {
        const frame = Uint8Array.from(encodeMessage(messages[0]!));
        // Bytes 0..11 and the payload are covered by a check; 12..43 other than 32..39 are not.
        const covered = [...Array(12).keys(), ...Array.from({ length: frame.byteLength - HEADER_SIZE }, (_, i) => HEADER_SIZE + i)];
        const at = covered[pos % covered.length]!;
        frame[at]! ^= 1 << bit;
        expect(consume([frame]).fatal).not.toBeNull();
      }),
      { numRuns: 1500 },
    );
  });

  it("headers with random lengths: refused from the header, or waited for, never buffered blindly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.uint8Array({ maxLength: 64 }), (length, body) => {
        const header = encodeFrame({ flags: 0x04 });
        new DataView(header.buffer).setUint32(32, length, true);
        const decoder = new FrameDecoder({ maxPayloadLength: MAX });
        const frames: Frame[] = [];
        let code: string | null = null;
        try {
          for (const f of decoder.push(concat([header, body]))) frames.push(f);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          code = (err as ProtocolError).code;
        }
        if (length > MAX) {
          expect(code).toBe("LNC_PROTO_FRAME_TOO_LARGE");
          expect(frames).toEqual([]);
        } else if (body.byteLength < length) {
          expect(code).toBeNull();
          expect(frames).toEqual([]);
          expect(decoder.bufferedBytes).toBe(HEADER_SIZE + body.byteLength);
        } else if (length === 0) {
          expect(frames).toHaveLength(1);
        } else if (crc32(body.subarray(0, length)) !== 0) {
          expect(code).toBe("LNC_PROTO_PAYLOAD_CRC");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("control frames with any command code and any payload decode or give a non-fatal typed error", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (code, payload, high) => {
        const batchId = (high & ~0xffn) | BigInt(code);
        const frame = decodeFrame(encodeFrame({ flags: 0x40, batchId }, payload));
        try {
          const m = decodeMessage(frame);
          expect(m.type).not.toBe("unknown");
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          expect((err as ProtocolError).fatal).toBe(false);
          expect((err as ProtocolError).replyText.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("decodeFrame on garbage throws only typed errors", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
