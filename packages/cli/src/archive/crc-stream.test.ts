import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { crc32c } from "@lance/segment-format";
import { Crc32cStream, crc32cCombine } from "./crc-stream.js";

describe("streamed CRC-32C", () => {
  it("combine(crc(a), crc(b), |b|) is crc(a || b)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(crc32cCombine(crc32c(a), crc32c(b), b.byteLength)).toBe(crc32c(Buffer.concat([a, b])));
      }),
      { numRuns: 300 },
    );
  });

  it("any chunking of the input gives the one-shot checksum", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(400), { maxLength: 12 }), (data, cuts) => {
        const s = new Crc32cStream();
        let at = 0;
        for (const c of cuts) {
          s.update(data.subarray(at, Math.min(data.byteLength, at + c)));
          at = Math.min(data.byteLength, at + c);
        }
        s.update(data.subarray(at));
        expect(s.value).toBe(crc32c(data));
        expect(s.bytes).toBe(data.byteLength);
      }),
      { numRuns: 300 },
    );
  });

  it("matches the check value when split, and one-shot CRCs of long inputs", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    const s = new Crc32cStream();
    s.update(Buffer.from("1234"));
    s.update(Buffer.from("56789"));
    expect(s.value).toBe(0xe3069283);
    // Doubling 64 KiB of zeros four times through combine gives the one-shot CRC of 1 MiB of zeros.
    let crc = crc32c(Buffer.alloc(1 << 16));
    for (let len = 1 << 16; len < 1 << 20; len *= 2) crc = crc32cCombine(crc, crc, len);
    expect(crc).toBe(crc32c(Buffer.alloc(1 << 20)));
  });
});
