import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSegmentHeader, type BatchInput } from "./format.js";
import { scanSegmentBytes, scanSegmentFile, type BatchInfo } from "./scanner.js";
import { planSegmentRepair, repairSegmentFile } from "./repair.js";
import { buildSegment, sampleBatches, tempDir } from "./test-helpers.js";

const batchArb: fc.Arbitrary<BatchInput> = fc.record({
  payload: fc.uint8Array({ maxLength: 300 }),
  recordCount: fc.integer({ min: 1, max: 1000 }),
  firstTimestampNs: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
});

describe("scanner", () => {
  it("reports exactly the batches that were written", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.array(batchArb, { maxLength: 20 }), (base, batches) => {
        const seg = buildSegment(base, batches);
        const seen: BatchInfo[] = [];
        const scan = scanSegmentBytes(seg.bytes, { onBatch: (b) => seen.push(b) });
        expect(scan.ok).toBe(true);
        expect(scan.problems).toEqual([]);
        expect(scan.batchCount).toBe(batches.length);
        expect(scan.recordCount).toBe(batches.reduce((n, b) => n + b.recordCount, 0));
        expect(scan.firstOffset).toBe(batches.length ? base : null);
        expect(scan.nextOffset).toBe(batches.length ? seg.nextOffset : null);
        expect(scan.validPrefixBytes).toBe(seg.bytes.byteLength);
        expect(scan.gaps).toEqual([]);
        let off = base;
        seen.forEach((b, i) => {
          expect(b.baseOffset).toBe(off);
          expect(b.recordCount).toBe(batches[i]!.recordCount);
          expect(b.payloadLength).toBe(batches[i]!.payload.byteLength);
          expect(b.position + b.size).toBe(seg.ends[i]);
          off += b.recordCount;
        });
      }),
    );
  });

  it("detects every single-bit flip anywhere in a segment", () => {
    const seg = buildSegment(100, sampleBatches(4, 8));
    for (let bit = 0; bit < seg.bytes.byteLength * 8; bit++) {
      const bytes = Buffer.from(seg.bytes);
      bytes[bit >> 3]! ^= 1 << (bit & 7);
      const scan = scanSegmentBytes(bytes);
      expect(scan.ok, `flip of bit ${bit} (byte ${bit >> 3}) went unnoticed`).toBe(false);
      expect(scan.problems[0]!.position).toBeLessThanOrEqual(bit >> 3);
    }
  });

  it("detects random bit flips in random segments", () => {
    fc.assert(
      fc.property(fc.array(batchArb, { minLength: 1, maxLength: 8 }), fc.nat(), (batches, r) => {
        const seg = buildSegment(7, batches);
        const bit = r % (seg.bytes.byteLength * 8);
        const bytes = Buffer.from(seg.bytes);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        expect(scanSegmentBytes(bytes).ok).toBe(false);
      }),
    );
  });

  it("detects every truncation point that cuts a batch and keeps exactly the batches before it", () => {
    const seg = buildSegment(0, sampleBatches(5, 6));
    const boundaries = new Set([32, ...seg.ends]);
    for (let cut = 0; cut < seg.bytes.byteLength; cut++) {
      const scan = scanSegmentBytes(seg.bytes.subarray(0, cut));
      const whole = seg.ends.filter((e) => e <= cut).length;
      if (boundaries.has(cut)) {
        // A cut on a batch boundary leaves a shorter valid segment; the .idx coverage catches it.
        expect(scan.ok).toBe(true);
        expect(scan.batchCount).toBe(whole);
        continue;
      }
      expect(scan.ok, `cut at ${cut}`).toBe(false);
      const kind = scan.problems[0]!.kind;
      expect(cut < 32 ? kind === "bad_segment_header" : kind === "torn_tail" || kind === "trailing_garbage").toBe(true);
      if (cut >= 32) {
        expect(scan.damageAtTailOnly).toBe(true);
        const plan = planSegmentRepair("x", scan, "tail");
        expect(plan.action).toBe("truncate");
        expect(plan.keptBatches).toBe(whole);
        expect(plan.newSize).toBe(whole === 0 ? 32 : seg.ends[whole - 1]);
      }
    }
  });

  it("never throws on arbitrary bytes, with or without a valid header", () => {
    const header = encodeSegmentHeader({ baseOffset: 5, createdNs: 1n });
    const valid = buildSegment(5, sampleBatches(3)).bytes;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 2 }), fc.nat(), (garbage, mode, at) => {
        let bytes: Uint8Array = garbage;
        if (mode === 1) bytes = Buffer.concat([header, garbage]);
        if (mode === 2) {
          const p = at % valid.byteLength;
          bytes = Buffer.concat([valid.subarray(0, p), garbage, valid.subarray(p)]);
        }
        const scan = scanSegmentBytes(bytes);
        expect(scan.ok).toBe(scan.problems.length === 0);
        for (const p of scan.problems) {
          expect(p.position).toBeGreaterThanOrEqual(0);
          expect(p.position + p.length).toBeLessThanOrEqual(bytes.byteLength);
        }
      }),
    );
  });

  it("tells mid-file damage from tail damage and resumes after it", () => {
    const seg = buildSegment(0, sampleBatches(5, 10));
    const bytes = Buffer.from(seg.bytes);
    const target = seg.ends[1]! + 45; // payload byte of the third batch
    bytes[target]! ^= 0xff;
    const scan = scanSegmentBytes(bytes);
    expect(scan.problems).toHaveLength(1);
    expect(scan.problems[0]).toMatchObject({ kind: "crc_mismatch", code: "LNC_CRC_MISMATCH", position: seg.ends[1], length: seg.ends[2]! - seg.ends[1]! });
    expect(scan.damageAtTailOnly).toBe(false);
    expect(scan.batchCount).toBe(4);
    expect(scan.prefixBatchCount).toBe(2);
    expect(scan.gaps).toHaveLength(1);
    const plan = planSegmentRepair("seg.lnc", scan, "tail");
    expect(plan.action).toBe("refuse");
    expect(plan.reason).toMatch(/not at the tail.*--skip-corrupt.*--truncate-at-damage/);
  });

  it("classifies zeros and junk after the last batch as trailing garbage", () => {
    const seg = buildSegment(0, sampleBatches(2));
    for (const junk of [Buffer.alloc(4096), Buffer.from("not a batch at all, just some text that got appended\n")]) {
      const scan = scanSegmentBytes(Buffer.concat([seg.bytes, junk]));
      expect(scan.problems).toEqual([expect.objectContaining({ kind: "trailing_garbage", position: seg.bytes.byteLength, length: junk.byteLength })]);
      expect(scan.damageAtTailOnly).toBe(true);
      expect(scan.batchCount).toBe(2);
    }
  });

  it("reports offset gaps and regressions inside a segment", () => {
    const a = buildSegment(0, sampleBatches(2));
    const b = buildSegment(50, sampleBatches(1));
    const gap = scanSegmentBytes(Buffer.concat([a.bytes, b.bytes.subarray(32)]));
    expect(gap.ok).toBe(true);
    expect(gap.gaps).toEqual([{ from: a.nextOffset, to: 50 }]);
    const regress = scanSegmentBytes(Buffer.concat([a.bytes, a.bytes.subarray(32, a.ends[0])]));
    expect(regress.problems[0]!.kind).toBe("offset_regression");
  });
});

describe("repairSegmentFile", () => {
  it("truncates a torn tail, saves the cut bytes, and recovers exactly the batches before the cut", () => {
    fc.assert(
      fc.property(fc.array(batchArb, { minLength: 1, maxLength: 6 }), fc.nat(), (batches, r) => {
        const dir = tempDir();
        const seg = buildSegment(0, batches);
        const cut = 33 + (r % (seg.bytes.byteLength - 33));
        const path = join(dir, "0_1.lnc");
        writeFileSync(path, seg.bytes.subarray(0, cut));
        const res = repairSegmentFile(path, "tail");
        const whole = seg.ends.filter((e) => e <= cut).length;
        const expectedSize = whole === 0 ? 32 : seg.ends[whole - 1]!;
        if (cut === expectedSize) {
          expect(res.action).toBe("none");
          return;
        }
        expect(res.action).toBe("truncate");
        expect(res.keptBatches).toBe(whole);
        expect(readFileSync(path)).toEqual(seg.bytes.subarray(0, expectedSize));
        expect(readFileSync(res.backupPath!)).toEqual(seg.bytes.subarray(expectedSize, cut));
        expect(scanSegmentFile(path).ok).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it("dry-run changes nothing; skip-corrupt keeps valid batches after mid-file damage", () => {
    const dir = tempDir();
    const seg = buildSegment(0, sampleBatches(5, 10));
    const bytes = Buffer.from(seg.bytes);
    bytes[seg.ends[1]! + 45]! ^= 0xff;
    const path = join(dir, "0_1.lnc");
    writeFileSync(path, bytes);
    expect(repairSegmentFile(path, "tail").action).toBe("refuse");
    const dry = repairSegmentFile(path, "skip-corrupt", { dryRun: true });
    expect(dry.action).toBe("rewrite");
    expect(readFileSync(path)).toEqual(bytes);
    const res = repairSegmentFile(path, "skip-corrupt");
    expect(res.keptBatches).toBe(4);
    expect(readFileSync(res.backupPath!)).toEqual(bytes);
    const after = scanSegmentFile(path);
    expect(after.ok).toBe(true);
    expect(after.batchCount).toBe(4);
    expect(after.gaps).toHaveLength(1);
  });

  it("truncate-at-damage cuts from the first bad byte; skip-corrupt rebuilds a damaged header from the name", () => {
    const dir = tempDir();
    const seg = buildSegment(9, sampleBatches(3));
    const bytes = Buffer.from(seg.bytes);
    bytes[seg.ends[0]! + 2]! ^= 0x10;
    const path = join(dir, "9_1700000000000000000.lnc");
    writeFileSync(path, bytes);
    const res = repairSegmentFile(path, "truncate-at-damage");
    expect(res).toMatchObject({ action: "truncate", keptBatches: 1, droppedValidBatches: 1, newSize: seg.ends[0] });

    const hdr = Buffer.from(seg.bytes);
    hdr[3]! ^= 0x01;
    writeFileSync(path, hdr);
    expect(repairSegmentFile(path, "tail").action).toBe("refuse");
    repairSegmentFile(path, "skip-corrupt");
    expect(readFileSync(path)).toEqual(seg.bytes);
  });
});
