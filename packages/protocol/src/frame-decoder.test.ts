import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { HEADER_SIZE } from "./constants.js";
import { ProtocolError, type ProtocolErrorCode } from "./errors.js";
import { type Frame, encodeFrame } from "./frame.js";
import { FrameDecoder } from "./frame-decoder.js";
import { decodeMessage, encodeMessage } from "./message-codec.js";
import { framesArb, splitAt } from "./test-arbitraries.js";
import { ascii, concat } from "./test-helpers.js";

function decodeChunks(decoder: FrameDecoder, chunks: Uint8Array[]): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) for (const frame of decoder.push(chunk)) out.push(frame);
  return out;
}

/** Frames decoded before the failure, and the failure's code. */
function decodeUntilError(chunks: Uint8Array[], decoder = new FrameDecoder()): { frames: Frame[]; code: ProtocolErrorCode | null } {
  const frames: Frame[] = [];
  try {
    for (const chunk of chunks) for (const frame of decoder.push(chunk)) frames.push(frame);
    decoder.finish();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { frames, code: err.code };
  }
  return { frames, code: null };
}

const ingest = (n: number, payload = ascii(`payload-${n}`)) =>
  encodeMessage({ type: "ingest", batchId: BigInt(n), timestampNs: 0n, recordCount: 1, topicId: 1, payload, compressed: false });

describe("FrameDecoder under arbitrary chunking", () => {
  it("yields the same frames however the stream is split", () => {
    fc.assert(
      fc.property(framesArb(12), fc.array(fc.nat(), { maxLength: 40 }), (messages, cuts) => {
        const stream = concat(messages.map(encodeMessage));
        const decoder = new FrameDecoder();
        const frames = decodeChunks(decoder, splitAt(stream, cuts));
        expect(frames.map(decodeMessage)).toEqual(messages);
        expect(decoder.bufferedBytes).toBe(0);
        decoder.finish();
      }),
      { numRuns: 1000 },
    );
  });

  it("decodes a stream pushed one byte at a time", () => {
    const messages = [ingest(1), encodeMessage({ type: "keepalive" }), ingest(2, new Uint8Array(3000).fill(7)), ingest(3)];
    const stream = concat(messages);
    const decoder = new FrameDecoder();
    const frames = decodeChunks(decoder, Array.from(stream, (b) => Uint8Array.of(b)));
    expect(frames.map((f) => encodeFrame({ flags: f.header.flags, batchId: f.header.batchId, topicId: f.header.topicId, recordCount: f.header.recordCount }, f.payload))).toEqual(messages);
  });

  it("decodes many frames from one chunk, payloads as views into it", () => {
    const stream = concat(Array.from({ length: 100 }, (_, i) => ingest(i)));
    const frames = decodeChunks(new FrameDecoder(), [stream]);
    expect(frames.map((f) => f.header.batchId)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i)));
    expect(frames[5]!.payload.buffer).toBe(stream.buffer);
  });

  it("keeps un-iterated frames for the next push", () => {
    const decoder = new FrameDecoder();
    const first = decoder.push(concat([ingest(1), ingest(2)]));
    expect(first.next().value).toMatchObject({ header: { batchId: 1n } });
    expect([...decoder.push(ingest(3))].map((f) => f.header.batchId)).toEqual([2n, 3n]);
  });

  it("reports bufferedBytes of a partial frame and fails finish() on it", () => {
    const decoder = new FrameDecoder();
    expect([...decoder.push(ingest(1).subarray(0, 50))]).toEqual([]);
    expect(decoder.bufferedBytes).toBe(50);
    expect(() => decoder.finish()).toThrow(expect.objectContaining({ code: "LNC_PROTO_TRUNCATED", fatal: true }));
    expect(decoder.error?.code).toBe("LNC_PROTO_TRUNCATED");
  });
});

describe("FrameDecoder errors", () => {
  const good = ingest(1);
  const damaged = (i: number, xor = 0x01) => {
    const b = Uint8Array.from(ingest(2));
    b[i]! ^= xor;
    return b;
  };

  it.each<[string, Uint8Array, ProtocolErrorCode]>([
    ["bad magic", damaged(1), "LNC_PROTO_BAD_MAGIC"],
    ["bad version", damaged(4, 0x02), "LNC_PROTO_BAD_VERSION"],
    ["bad header CRC", damaged(10), "LNC_PROTO_HEADER_CRC"],
    ["flags changed under the CRC", damaged(5, 0x40), "LNC_PROTO_HEADER_CRC"],
    ["bad payload CRC", damaged(HEADER_SIZE + 2), "LNC_PROTO_PAYLOAD_CRC"],
    ["length changed", damaged(32, 0x02), "LNC_PROTO_PAYLOAD_CRC"],
  ])("%s: frames before it are delivered, then a typed error, then no more input", (_, bad, code) => {
    const decoder = new FrameDecoder();
    const { frames, code: got } = decodeUntilError([concat([good, bad, good])], decoder);
    expect(frames.map((f) => f.header.batchId)).toEqual([1n]);
    expect(got).toBe(code);
    expect(decoder.error?.fatal).toBe(true);
    expect(decoder.bufferedBytes).toBe(0);
    expect(() => decoder.push(good)).toThrow(expect.objectContaining({ code: "LNC_PROTO_DECODER_FAILED" }));
  });

  it("refuses an oversized length from the header alone, before any payload byte", () => {
    const header = Uint8Array.from(encodeFrame({ flags: 0x04 }, new Uint8Array(17)).subarray(0, HEADER_SIZE));
    const decoder = new FrameDecoder({ maxPayloadLength: 16 });
    expect(decodeUntilError([header], decoder).code).toBe("LNC_PROTO_FRAME_TOO_LARGE");
    const at = new FrameDecoder({ maxPayloadLength: 17 });
    expect([...at.push(header)]).toEqual([]);
  });

  it("refuses a 4 GiB length at the default 16 MiB limit without allocating it", () => {
    const header = encodeFrame({ flags: 0x04 });
    new DataView(header.buffer).setUint32(32, 0xffff_ffff, true);
    expect(decodeUntilError([header]).code).toBe("LNC_PROTO_FRAME_TOO_LARGE");
    const justOver = encodeFrame({ flags: 0x40 });
    new DataView(justOver.buffer).setUint32(32, 16 * 1024 * 1024 + 1, true);
    expect(decodeUntilError([justOver]).code).toBe("LNC_PROTO_FRAME_TOO_LARGE");
  });

  it("spots garbage from its first bytes instead of waiting for 44", () => {
    expect(decodeUntilError([ascii("GET /")]).code).toBe("LNC_PROTO_BAD_MAGIC");
    expect(decodeUntilError([Uint8Array.of(0x4c, 0x41, 0x4e, 0x43, 0x02)]).code).toBe("LNC_PROTO_BAD_VERSION");
    const decoder = new FrameDecoder();
    expect([...decoder.push(Uint8Array.of(0x4c, 0x41))]).toEqual([]);
    expect(decodeUntilError([Uint8Array.of(0x4f)], decoder).code).toBe("LNC_PROTO_BAD_MAGIC");
  });

  it("assembles a payload that arrives in many small chunks, and still checks its CRC", () => {
    const payload = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
    const frame = ingest(9, payload);
    const chunks = splitAt(frame, Array.from({ length: 300 }, (_, i) => 10 + i * 16));
    const decoder = new FrameDecoder();
    const frames = decodeChunks(decoder, [...chunks, ingest(10)]);
    expect(frames.map((f) => f.header.batchId)).toEqual([9n, 10n]);
    expect(frames[0]!.payload).toEqual(payload);
    const bad = Uint8Array.from(frame);
    bad[bad.length - 1]! ^= 0xff;
    expect(decodeUntilError(splitAt(bad, Array.from({ length: 300 }, (_, i) => 10 + i * 16))).code).toBe("LNC_PROTO_PAYLOAD_CRC");
  });

  it("validates its option", () => {
    expect(() => new FrameDecoder({ maxPayloadLength: -1 })).toThrow(expect.objectContaining({ code: "LNC_PROTO_BAD_ARGUMENT" }));
    expect(new FrameDecoder().maxPayloadLength).toBe(16_777_216);
  });
});
