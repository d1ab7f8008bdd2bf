import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { crc32c, checksumBackends } from "./checksum.js";
import { LanceError } from "./errors.js";
import { decodeBatchHeader, decodeSegmentHeader, encodeBatch, encodeSegmentHeader, batchCrcMatches, BATCH_HEADER_SIZE } from "./format.js";

describe("crc32c", () => {
  it("matches the CRC-32C check values", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.from("hello world"))).toBe(0xc99465aa);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });
  it("gives the same answer from every backend", () => {
    const backends = [checksumBackends.wasm, ...(checksumBackends.native ? [checksumBackends.native] : [])];
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 4 }), (parts) => {
        const want = checksumBackends.wasm(...parts);
        for (const b of backends) expect(b(...parts)).toBe(want);
        expect(crc32c(...parts)).toBe(want);
      }),
    );
    expect(checksumBackends.wasm(Buffer.from("123456789"))).toBe(0xe3069283);
  });
  it("is the CRC of the concatenation when given parts", () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
        expect(crc32c(a, b)).toBe(crc32c(Buffer.concat([a, b])));
      }),
    );
  });
});

describe("segment header", () => {
  it("round-trips and rejects damage with a typed error", () => {
    const h = encodeSegmentHeader({ baseOffset: 4242, createdNs: 1_700_000_000_123_456_789n });
    expect(decodeSegmentHeader(h)).toEqual({ version: 1, baseOffset: 4242, createdNs: 1_700_000_000_123_456_789n });
    const bad = Uint8Array.from(h);
    bad[9]! ^= 1;
    expect(() => decodeSegmentHeader(bad)).toThrow(expect.objectContaining({ code: "LNC_CRC_MISMATCH" }));
    const foreign = Uint8Array.from(h);
    foreign[0] = 0x01;
    expect(() => decodeSegmentHeader(foreign)).toThrow(LanceError);
    expect(() => decodeSegmentHeader(h.subarray(0, 10))).toThrow(expect.objectContaining({ code: "LNC_TORN_TAIL" }));
  });
});

describe("batch codec", () => {
  it("round-trips arbitrary batches", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 0xffffffff }),
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 0xffff }),
        (payload, base, count, t1, t2, flags) => {
          const enc = encodeBatch(base, { payload, recordCount: count, firstTimestampNs: t1, lastTimestampNs: t2, flags });
          const h = decodeBatchHeader(enc);
          expect(h).toMatchObject({ length: enc.byteLength - 4, baseOffset: base, recordCount: count, firstTimestampNs: t1, lastTimestampNs: t2, flags });
          expect(batchCrcMatches(enc, 0, h.length)).toBe(true);
          expect(Buffer.from(enc.subarray(BATCH_HEADER_SIZE))).toEqual(Buffer.from(payload));
        },
      ),
    );
  });
  it("refuses batches that could not be addressed", () => {
    expect(() => encodeBatch(0, { payload: new Uint8Array(1), recordCount: 0, firstTimestampNs: 0n })).toThrow(
      expect.objectContaining({ code: "LNC_BAD_ARGUMENT" }),
    );
    expect(() => encodeBatch(-1, { payload: new Uint8Array(1), recordCount: 1, firstTimestampNs: 0n })).toThrow(LanceError);
  });
});
