import { describe, expect, it } from "vitest";
import { appendFileSync, existsSync, readdirSync, statSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SegmentWriter } from "./writer.js";
import { SegmentReader } from "./reader.js";
import { scanSegmentFile } from "./scanner.js";
import { parseSegmentName, segmentFileName } from "./naming.js";
import { tempDir } from "./test-helpers.js";

const T0 = 1_700_000_000_000_000_000n;
const payload = (i: number, size = 100) => Buffer.alloc(size, i % 251);

describe("SegmentWriter", () => {
  it("assigns record offsets, buffers appends and makes them readable after flush", async () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 1000, T0, { writeBufferBytes: 4096 });
    expect(w.name).toBe("1000_1700000000000000000.lnc");
    const a = w.append({ payload: payload(1), recordCount: 3, firstTimestampNs: T0 });
    const b = w.append({ payload: payload(2), recordCount: 2, firstTimestampNs: T0 + 5n });
    expect([a.baseOffset, a.nextOffset, b.baseOffset, b.nextOffset]).toEqual([1000, 1003, 1003, 1005]);
    expect(a.position).toBe(32);
    expect(b.position).toBe(32 + 140);
    w.flush();
    const scan = scanSegmentFile(w.path);
    expect(scan).toMatchObject({ ok: true, batchCount: 2, recordCount: 5, firstOffset: 1000, nextOffset: 1005 });
    w.release();
  });

  it("writes batches larger than its buffer directly", () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 0, T0, { writeBufferBytes: 256 });
    w.append({ payload: payload(1, 10), recordCount: 1, firstTimestampNs: T0 });
    w.append({ payload: payload(2, 1000), recordCount: 1, firstTimestampNs: T0 });
    w.append({ payload: payload(3, 10), recordCount: 1, firstTimestampNs: T0 });
    w.sync();
    expect(scanSegmentFile(w.path)).toMatchObject({ ok: true, batchCount: 3, fileSize: w.size });
    w.release();
  });

  it("asks to rotate by size and by age, and closes under the closed name", () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 0, T0, { maxSegmentBytes: 500 });
    w.append({ payload: payload(1, 300), recordCount: 1, firstTimestampNs: T0 });
    expect(w.shouldRotate()).toBe(false);
    w.append({ payload: payload(2, 300), recordCount: 1, firstTimestampNs: T0 });
    expect(w.shouldRotate()).toBe(true);
    const closed = w.close(T0 + 99n);
    expect(closed).toBe(join(dir, "0_1700000000000000000-1700000000000000099.lnc"));
    expect(readdirSync(dir)).toEqual(["0_1700000000000000000-1700000000000000099.lnc"]);
    expect(() => w.append({ payload: payload(3), recordCount: 1, firstTimestampNs: T0 })).toThrow(expect.objectContaining({ code: "LNC_CLOSED" }));

    const nowMs = Date.now();
    const old = SegmentWriter.create(dir, 2, BigInt(nowMs - 10_000) * 1_000_000n, { maxSegmentAgeMs: 5_000 });
    expect(old.shouldRotate(nowMs)).toBe(true);
    expect(old.shouldRotate(nowMs - 6_000)).toBe(false);
    old.release();
  });

  it("refuses to overwrite an existing segment", () => {
    const dir = tempDir();
    SegmentWriter.create(dir, 0, T0).release();
    expect(() => SegmentWriter.create(dir, 0, T0)).toThrow(/EEXIST/);
  });

  it("resumes an active segment after a torn tail and continues its offsets", () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 0, T0);
    w.append({ payload: payload(1), recordCount: 4, firstTimestampNs: T0 });
    w.release();
    appendFileSync(w.path, Buffer.from([1, 2, 3, 4, 5, 6, 7]));
    const scan = scanSegmentFile(w.path);
    expect(scan.problems[0]!.kind).toBe("torn_tail");
    const r = SegmentWriter.resume(w.path, scan.validPrefixBytes, scan.prefixNextOffset!);
    const next = r.append({ payload: payload(2), recordCount: 1, firstTimestampNs: T0 });
    expect(next.baseOffset).toBe(4);
    r.sync();
    expect(scanSegmentFile(w.path)).toMatchObject({ ok: true, batchCount: 2, nextOffset: 5 });
    r.release();
  });
});

describe("SegmentReader", () => {
  it("finds batches by offset and time and returns whole batches within a byte budget", async () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 10, T0);
    for (let i = 0; i < 20; i++) w.append({ payload: payload(i, 50), recordCount: 5, firstTimestampNs: T0 + BigInt(i) * 1000n });
    w.release();
    const r = await SegmentReader.open(w.path);
    expect((await r.findByOffset(10))!.baseOffset).toBe(10);
    expect((await r.findByOffset(57))!.baseOffset).toBe(55);
    expect(await r.findByOffset(110)).toBeNull();
    expect((await r.findByTime(T0 + 3500n))!.baseOffset).toBe(30);
    expect((await r.findByTime(0n))!.baseOffset).toBe(10);
    expect(await r.findByTime(T0 + 1_000_000n)).toBeNull();
    const batches = await r.readBatches(32, 120);
    expect(batches.map((b) => b.baseOffset)).toEqual([10, 15]);
    expect(batches[1]!.payload).toEqual(payload(1, 50));
    expect((await r.readBatches(32, 1)).length).toBe(1);
    await r.close();
  });

  it("readBatches returns the good batches before damage and fails only at a damaged first batch", async () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 0, T0);
    for (let i = 0; i < 5; i++) w.append({ payload: payload(i, 64), recordCount: 1, firstTimestampNs: T0 });
    w.release();
    const bytes = readFileSync(w.path);
    const third = 32 + 2 * 104;
    bytes[third + 50]! ^= 1;
    writeFileSync(w.path, bytes);
    const r = await SegmentReader.open(w.path);
    expect((await r.readBatches(32, 1 << 20)).map((b) => b.baseOffset)).toEqual([0, 1]);
    await expect(r.readBatches(third, 1 << 20)).rejects.toMatchObject({ code: "LNC_CRC_MISMATCH" });
    await r.close();
  });

  it("refuses to return a batch whose bytes no longer match its CRC", async () => {
    const dir = tempDir();
    const w = SegmentWriter.create(dir, 0, T0);
    w.append({ payload: payload(7, 64), recordCount: 1, firstTimestampNs: T0 });
    w.release();
    const bytes = readFileSync(w.path);
    bytes[32 + 40 + 10]! ^= 4;
    writeFileSync(w.path, bytes);
    const r = await SegmentReader.open(w.path);
    await expect(r.readBatchAt(32)).rejects.toMatchObject({ code: "LNC_CRC_MISMATCH", message: expect.stringContaining("byte 32") });
    await r.close();
  });

  it("refuses a file that is not a v1 segment", async () => {
    const dir = tempDir();
    const p = join(dir, "0_1.lnc");
    writeFileSync(p, Buffer.alloc(64, 7));
    await expect(SegmentReader.open(p)).rejects.toMatchObject({ code: "LNC_BAD_MAGIC" });
    expect(existsSync(p) && statSync(p).size).toBe(64);
  });
});

describe("segment names", () => {
  it("parses strictly and round-trips", () => {
    expect(parseSegmentName("12_34.lnc")).toMatchObject({ baseOffset: 12, createdNs: 34n, closedNs: null, stem: "12_34" });
    expect(parseSegmentName("12_34-56.lnc")).toMatchObject({ closedNs: 56n });
    for (const bad of ["12_34.idx", "x_1.lnc", "012_3.lnc", "1_2-.lnc", "1-2_3.lnc", "1_2-3-4.lnc", "index.idx"]) {
      expect(parseSegmentName(bad), bad).toBeNull();
    }
    expect(segmentFileName(5, 6n, 7n)).toBe("5_6-7.lnc");
  });
});
