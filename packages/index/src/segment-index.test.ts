import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SegmentIndex, SegmentIndexBuilder, encodeSegmentIndex } from "./segment-index.js";

function build(n: number, interval: number) {
  const b = new SegmentIndexBuilder(100, interval);
  let pos = 32;
  for (let i = 0; i < n; i++) {
    b.add({ baseOffset: 100 + i * 3, nextOffset: 103 + i * 3, position: pos, size: 140, firstTimestampNs: BigInt(1000 + i * 10), lastTimestampNs: BigInt(1000 + i * 10) });
    pos += 140;
  }
  return b;
}

describe("segment index", () => {
  it("takes an entry for the first batch and then every intervalBytes", () => {
    const b = build(100, 1000);
    expect(b.entries[0]).toEqual({ offset: 100, position: 32, maxTimestampNs: 1000n });
    for (let i = 1; i < b.entries.length; i++) expect(b.entries[i]!.position - b.entries[i - 1]!.position).toBeGreaterThanOrEqual(1000);
    expect(b.entries.length).toBe(13);
    expect(b.state).toMatchObject({ coveredBytes: 32 + 100 * 140, nextOffset: 400, batchCount: 100, minTimestampNs: 1000n, maxTimestampNs: 1990n });
  });

  it("round-trips and detects any byte flip", () => {
    const bytes = build(40, 500).encode();
    const idx = SegmentIndex.decode(bytes);
    expect(idx.entries).toEqual(build(40, 500).entries);
    for (let i = 0; i < bytes.byteLength; i++) {
      const bad = Uint8Array.from(bytes);
      bad[i]! ^= 0x20;
      expect(() => SegmentIndex.decode(bad), `byte ${i}`).toThrow(expect.objectContaining({ code: "LNC_INDEX_CORRUPT" }));
    }
    expect(() => SegmentIndex.decode(bytes.subarray(0, bytes.byteLength - 1))).toThrow(/rebuild-index/);
  });

  it("finds the start position for an offset and a time", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 140, max: 3000 }), fc.integer({ min: 0, max: 1500 }), (n, interval, q) => {
        const idx = SegmentIndex.decode(build(n, interval).encode());
        const offset = 90 + q;
        const e = idx.startForOffset(offset);
        if (offset < 100) expect(e).toBeNull();
        else {
          expect(e!.offset).toBeLessThanOrEqual(offset);
          const later = idx.entries.find((x) => x.offset > e!.offset);
          if (later) expect(later.offset).toBeGreaterThan(offset);
        }
        const ts = BigInt(990 + q * 2);
        const t = idx.startForTime(ts);
        if (t) expect(t.maxTimestampNs).toBeLessThan(ts);
        const after = idx.entries.find((x) => x.maxTimestampNs >= ts);
        if (after && t) expect(after.position).toBeGreaterThan(t.position);
      }),
    );
  });

  it("encodes an empty index", () => {
    const idx = SegmentIndex.decode(encodeSegmentIndex({ baseOffset: 5, coveredBytes: 32, nextOffset: 5, minTimestampNs: 0n, maxTimestampNs: 0n, batchCount: 0, intervalBytes: 4096 }, []));
    expect(idx.startForOffset(5)).toBeNull();
  });
});
