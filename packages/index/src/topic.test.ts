import { describe, expect, it } from "vitest";
import { appendFileSync, readdirSync, readFileSync, renameSync, mkdirSync, truncateSync, unlinkSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SegmentReader, scanSegmentFile } from "@lance/segment-format";
import { TopicWriter } from "./topic-writer.js";
import { rebuildTopicIndexes } from "./rebuild.js";
import { verifyTopic } from "./verify.js";
import { readCatalog } from "./catalog.js";
import { findBatchByOffset, findBatchByTime, loadSegmentIndex, type IndexWarning } from "./lookup.js";
import { SegmentIndex } from "./segment-index.js";
import { makeTopic, T0 } from "./test-helpers.js";

const segs = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".lnc")).sort((a, b) => parseInt(a) - parseInt(b));

describe("TopicWriter", () => {
  it("rotates by size, indexes each segment while writing and keeps the catalog current", () => {
    const { dir, writer } = makeTopic({ batches: 100, writer: { maxSegmentBytes: 3000, indexIntervalBytes: 512 } });
    writer.close();
    const files = segs(dir);
    expect(files.length).toBeGreaterThan(3);
    expect(files.slice(0, -1).every((f) => f.includes("-"))).toBe(true);
    expect(files.at(-1)).not.toContain("-");
    const cat = readCatalog(join(dir, "index.idx"));
    expect(cat.nextOffset).toBe(200);
    expect(cat.entries.filter((e) => e.kind === "segment").length).toBe(files.length);
    const report = verifyTopic(dir);
    expect(report.issues).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals).toMatchObject({ records: 200, batches: 100, segments: files.length });
  });

  it("rotates by age", () => {
    let now = T0;
    const { dir, writer } = makeTopic({ batches: 0, writer: { maxSegmentAgeMs: 1000, clock: () => now } });
    writer.append({ payload: Buffer.from("a"), recordCount: 1, firstTimestampNs: now });
    now += 2_000_000_000n;
    writer.append({ payload: Buffer.from("b"), recordCount: 1, firstTimestampNs: now });
    writer.close();
    expect(segs(dir)).toHaveLength(2);
  });

  it("recovers a torn tail on open, keeps a backup, and continues the offsets", () => {
    const { dir, writer } = makeTopic({ batches: 10 });
    writer.close();
    const active = join(dir, segs(dir).at(-1)!);
    const before = statSync(active).size;
    appendFileSync(active, Buffer.alloc(77, 0xab));
    const notes: string[] = [];
    const w = TopicWriter.open(dir, { log: (m) => notes.push(m) });
    expect(notes.join("\n")).toMatch(/truncated torn tail .* 77 bytes/);
    expect(statSync(active).size).toBe(before);
    expect(readdirSync(dir).some((f) => f.endsWith(".cut"))).toBe(true);
    expect(w.nextOffset).toBe(20);
    expect(w.append({ payload: Buffer.from("x"), recordCount: 1, firstTimestampNs: T0 }).baseOffset).toBe(20);
    w.close();
    expect(verifyTopic(dir).ok).toBe(true);
  });

  it("refuses to open over mid-segment damage and names the repair command", () => {
    const { dir, writer } = makeTopic({ batches: 10 });
    writer.close();
    const active = join(dir, segs(dir).at(-1)!);
    const bytes = readFileSync(active);
    bytes[32 + 140 + 60]! ^= 1;
    writeFileSync(active, bytes);
    expect(() => TopicWriter.open(dir)).toThrow(/crc_mismatch.*lnc repair --path .*\.lnc/);
  });

  it("rebuilds missing and stale indexes on open", () => {
    const { dir, writer } = makeTopic({ batches: 60, writer: { maxSegmentBytes: 2000 } });
    writer.close();
    const idx = readdirSync(dir).filter((f) => f.endsWith(".idx") && f !== "index.idx");
    unlinkSync(join(dir, idx[0]!));
    writeFileSync(join(dir, idx[1]!), "garbage");
    const notes: string[] = [];
    TopicWriter.open(dir, { log: (m) => notes.push(m) }).close();
    expect(notes.filter((n) => n.startsWith("rebuilt index"))).toHaveLength(2);
    expect(verifyTopic(dir).ok).toBe(true);
  });

  it("never reuses offsets after the newest segment is quarantined", () => {
    const { dataDir, dir, writer } = makeTopic({ batches: 30, writer: { maxSegmentBytes: 1500 } });
    writer.rotate();
    writer.close();
    const last = segs(dir).at(-1)!;
    mkdirSync(join(dataDir, "quarantine"), { recursive: true });
    renameSync(join(dir, last), join(dataDir, "quarantine", last));
    const w = TopicWriter.open(dir);
    expect(w.nextOffset).toBe(60);
    w.close();
    const cat = readCatalog(join(dir, "index.idx"));
    expect(cat.entries.find((e) => e.kind === "gap")).toMatchObject({ reason: "quarantined", to: 60 });
  });
});

describe("TopicWriter offsets and retention", () => {
  it("appends at an explicit later offset, leaving a gap, and refuses an earlier one", () => {
    const { dir, writer } = makeTopic({ batches: 2 });
    expect(writer.append({ payload: Buffer.from("x"), recordCount: 1, firstTimestampNs: T0 }, 10).baseOffset).toBe(10);
    expect(() => writer.append({ payload: Buffer.from("y"), recordCount: 1, firstTimestampNs: T0 }, 5)).toThrow(expect.objectContaining({ code: "LNC_OFFSET_REGRESSION" }));
    writer.close();
    expect(readCatalog(join(dir, "index.idx")).entries.filter((e) => e.kind === "gap")).toEqual([{ kind: "gap", reason: "in-segment", from: 4, to: 10 }]);
    const report = verifyTopic(dir);
    expect(report.ok).toBe(true);
    expect(report.issues.map((i) => i.message)).toEqual([expect.stringContaining("offsets 4..9 are not in this segment")]);
  });

  it("deletes the oldest closed segments by size and by age without renumbering offsets", async () => {
    let now = T0;
    const { dir, writer } = makeTopic({ batches: 0, writer: { maxSegmentBytes: 1000, clock: () => now } });
    for (let i = 0; i < 40; i++) writer.append({ payload: Buffer.alloc(100, i), recordCount: 1, firstTimestampNs: now + BigInt(i) });
    const before = segs(dir).length;
    expect(writer.enforceRetention({ maxBytes: 0, maxAgeMs: null })).toEqual([]);
    const removed = writer.enforceRetention({ maxBytes: 2500, maxAgeMs: null });
    expect(removed.length).toBeGreaterThan(0);
    expect(segs(dir).length).toBe(before - removed.length);
    const cat = readCatalog(join(dir, "index.idx"));
    expect(cat.logStartOffset).toBe(parseInt(segs(dir)[0]!));
    expect(cat.nextOffset).toBe(40);
    now += 3_600_000_000_000n;
    const aged = writer.enforceRetention({ maxBytes: null, maxAgeMs: 60_000 });
    expect(segs(dir)).toHaveLength(1);
    expect(aged.length).toBeGreaterThan(0);
    expect(writer.append({ payload: Buffer.from("z"), recordCount: 1, firstTimestampNs: now }).baseOffset).toBe(40);
    writer.close();
    expect(verifyTopic(dir).ok).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith(".idx") && f !== "index.idx")).toHaveLength(1);
  });
});

describe("rebuildTopicIndexes and verifyTopic", () => {
  it("rebuilds every index and the catalog from segments alone, identical to the ones written live", () => {
    const { dir, writer } = makeTopic({ batches: 80, writer: { maxSegmentBytes: 2500 } });
    writer.close();
    const idxFiles = readdirSync(dir).filter((f) => f.endsWith(".idx") && f !== "index.idx");
    const live = new Map(idxFiles.map((f) => [f, readFileSync(join(dir, f))]));
    for (const f of idxFiles) unlinkSync(join(dir, f));
    unlinkSync(join(dir, "index.idx"));
    expect(verifyTopic(dir).ok).toBe(false);
    const r = rebuildTopicIndexes(dir);
    expect(r.warnings).toEqual([]);
    expect(r.segments.reduce((n, s) => n + s.records, 0)).toBe(160);
    for (const [f, bytes] of live) expect(readFileSync(join(dir, f)), f).toEqual(bytes);
    expect(verifyTopic(dir).ok).toBe(true);
  });

  it("reports a flipped byte with the file and byte position, and stops early with failFast", () => {
    const { dir, writer } = makeTopic({ batches: 40, writer: { maxSegmentBytes: 2000 } });
    writer.close();
    const victims = segs(dir).slice(0, 2).map((f) => join(dir, f));
    for (const v of victims) {
      const bytes = readFileSync(v);
      bytes[32 + 140 + 50]! ^= 0x80;
      writeFileSync(v, bytes);
    }
    const report = verifyTopic(dir);
    const errors = report.issues.filter((i) => i.severity === "error");
    expect(errors.map((e) => [e.file, e.position, e.code])).toEqual(victims.map((v) => [v, 172, "LNC_CRC_MISMATCH"]));
    expect(errors[0]!.message).toMatch(/crc_mismatch: batch checksum mismatch.*lnc repair --path/);
    const fast = verifyTopic(dir, { failFast: true });
    expect(fast.stoppedEarly).toBe(true);
    expect(fast.totals.errors).toBe(1);
  });

  it("catches a closed segment truncated on a batch boundary through its index and catalog", () => {
    const { dir, writer } = makeTopic({ batches: 40, writer: { maxSegmentBytes: 2000 } });
    writer.close();
    const first = join(dir, segs(dir)[0]!);
    truncateSync(first, statSync(first).size - 140);
    const report = verifyTopic(dir);
    expect(report.ok).toBe(false);
    expect(report.issues.map((i) => i.code)).toContain("LNC_INDEX_STALE");
  });

  it("reports a quarantined segment as a warning gap, and rebuild records it", () => {
    const { dataDir, dir, writer } = makeTopic({ batches: 60, writer: { maxSegmentBytes: 2000 } });
    writer.close();
    const middle = segs(dir)[1]!;
    mkdirSync(join(dataDir, "quarantine"));
    renameSync(join(dir, middle), join(dataDir, "quarantine", middle));
    unlinkSync(join(dir, middle.replace(".lnc", ".idx")));
    const r = rebuildTopicIndexes(dir);
    expect(r.gaps).toEqual([expect.objectContaining({ reason: "quarantined", from: parseInt(middle) })]);
    const report = verifyTopic(dir);
    expect(report.ok).toBe(true);
    expect(report.issues).toEqual([expect.objectContaining({ severity: "warning", code: "LNC_OFFSET_GAP", message: expect.stringContaining("quarantined") })]);
  });
});

describe("lookups through the index", () => {
  it("finds batches by offset and time across the segment, and falls back to a scan when the index is wrong", async () => {
    const { dir, writer } = makeTopic({ batches: 200, payloadBytes: 60, writer: { indexIntervalBytes: 1000 } });
    writer.close();
    const seg = join(dir, segs(dir)[0]!);
    const idxPath = seg.replace(".lnc", ".idx");
    const reader = await SegmentReader.open(seg);
    const warnings: IndexWarning[] = [];
    const warn = (w: IndexWarning) => warnings.push(w);
    const idx = loadSegmentIndex(idxPath, warn)!;
    for (const off of [0, 1, 57, 200, 399]) expect((await findBatchByOffset(reader, idx, off, warn))!.baseOffset).toBe(off - (off % 2));
    expect(await findBatchByOffset(reader, idx, 400, warn)).toBeNull();
    expect((await findBatchByTime(reader, idx, T0 + 150_000_000n, warn))!.baseOffset).toBe(300);
    expect(warnings).toEqual([]);

    // An index whose entries point at the wrong batches: detected, and the answer stays right.
    const wrong = new SegmentIndex(idx.summary, idx.entries.map((e) => ({ ...e, offset: e.offset + 2 })));
    expect((await findBatchByOffset(reader, wrong, 250, warn))!.baseOffset).toBe(250);
    expect(warnings[0]).toMatchObject({ code: "LNC_INDEX_STALE" });

    writeFileSync(idxPath, Buffer.alloc(10));
    expect(loadSegmentIndex(idxPath, warn)).toBeNull();
    expect(warnings.at(-1)).toMatchObject({ code: "LNC_INDEX_CORRUPT" });
    unlinkSync(idxPath);
    expect(loadSegmentIndex(idxPath, warn)).toBeNull();
    expect(warnings.at(-1)).toMatchObject({ code: "LNC_INDEX_MISSING" });
    await reader.close();
    expect(scanSegmentFile(seg).ok).toBe(true);
  });
});
