import { describe, expect, it } from "vitest";
import { mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TopicReader } from "./topic-reader.js";
import type { IndexWarning } from "./lookup.js";
import { makeTopic, T0 } from "./test-helpers.js";

const segs = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".lnc")).sort((a, b) => parseInt(a) - parseInt(b));

describe("TopicReader", () => {
  it("reads every record exactly once, in order, across segments and from any offset", async () => {
    const { dir, writer } = makeTopic({ batches: 120, payloadBytes: 50, records: 3, writer: { maxSegmentBytes: 1500, indexIntervalBytes: 200 } });
    writer.close();
    expect(segs(dir).length).toBeGreaterThan(5);
    const r = new TopicReader(dir);
    for (const start of [0, 1, 2, 3, 100, 181, 359]) {
      const seen: number[] = [];
      let off = start;
      for (;;) {
        const res = await r.read(off, 400);
        if (res.batches.length === 0) break;
        for (const b of res.batches) {
          expect(b.payload).toEqual(Buffer.alloc(50, b.baseOffset / 3));
          seen.push(b.baseOffset);
        }
        off = res.nextOffset;
      }
      const firstBase = start - (start % 3);
      expect(seen).toEqual(Array.from({ length: 120 - firstBase / 3 }, (_, i) => firstBase + i * 3));
    }
    expect(await r.read(360, 400)).toEqual({ batches: [], nextOffset: 360, skipped: null });
    const big = await r.read(0, 10);
    expect(big.batches).toHaveLength(1);
    await r.close();
  });

  it("skips a quarantined segment and says which offsets it skipped", async () => {
    const { dataDir, dir, writer } = makeTopic({ batches: 60, writer: { maxSegmentBytes: 1500 } });
    writer.close();
    const victim = segs(dir)[1]!;
    const victimBase = parseInt(victim);
    mkdirSync(join(dataDir, "quarantine"));
    renameSync(join(dir, victim), join(dataDir, "quarantine", victim));
    const nextBase = parseInt(segs(dir)[1]!);
    const r = new TopicReader(dir);
    const before = await r.read(0, 1_000_000);
    expect(before.nextOffset).toBe(victimBase);
    expect(before.skipped).toBeNull();
    const res = await r.read(victimBase, 1_000_000);
    expect(res.skipped).toEqual({ from: victimBase, to: nextBase });
    expect(res.batches[0]!.baseOffset).toBe(nextBase);
    await r.close();
  });

  it("stops at a gap inside a segment and reports it on the next read", async () => {
    const { dir, writer } = makeTopic({ batches: 3 });
    writer.append({ payload: Buffer.from("after-gap"), recordCount: 1, firstTimestampNs: T0 }, 20);
    writer.sync();
    const r = new TopicReader(dir);
    const first = await r.read(0, 1e6);
    expect(first.batches.map((b) => b.baseOffset)).toEqual([0, 2, 4]);
    expect(first.nextOffset).toBe(6);
    const second = await r.read(6, 1e6);
    expect(second.skipped).toEqual({ from: 6, to: 20 });
    expect(second.batches.map((b) => b.payload.toString())).toEqual(["after-gap"]);
    writer.close();
    await r.close();
  });

  it("follows the writer's rotations and retention through segmentsVersion, without refresh()", async () => {
    const { dir, writer } = makeTopic({ batches: 10, writer: { maxSegmentBytes: 600 } });
    writer.sync();
    const r = new TopicReader(dir, { segmentsVersion: () => writer.segmentsVersion, liveIndex: (f) => writer.liveIndex(f) });
    expect((await r.read(0, 1e6)).nextOffset).toBe(20);
    for (let i = 0; i < 10; i++) writer.append({ payload: Buffer.alloc(100, i), recordCount: 2, firstTimestampNs: T0 });
    writer.flush();
    expect((await r.read(20, 1e6)).nextOffset).toBe(40);
    expect(writer.enforceRetention({ maxBytes: 700, maxAgeMs: null }).length).toBeGreaterThan(0);
    const after = await r.read(0, 1e6);
    expect(after.skipped).toEqual({ from: 0, to: after.batches[0]!.baseOffset });
    expect(after.nextOffset).toBe(40);
    writer.close();
    await r.close();
  });

  it("finds offsets by time and survives a corrupt index with a warning", async () => {
    const { dir, writer } = makeTopic({ batches: 50, writer: { maxSegmentBytes: 2000 } });
    writer.close();
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".idx") && f !== "index.idx")) writeFileSync(join(dir, f), "junk");
    const warnings: IndexWarning[] = [];
    const r = new TopicReader(dir, { warn: (w) => warnings.push(w) });
    expect(await r.offsetForTime(T0 + 30_000_000n)).toBe(60);
    expect(await r.offsetForTime(T0 + 1_000_000_000_000n)).toBeNull();
    expect((await r.read(61, 1)).batches[0]!.baseOffset).toBe(60);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((w) => w.code === "LNC_INDEX_CORRUPT")).toBe(true);
    await r.close();
  });

  it("sees appends to the active segment after they are flushed", async () => {
    const { dir, writer } = makeTopic({ batches: 2 });
    writer.sync();
    const r = new TopicReader(dir);
    expect((await r.read(0, 1e6)).batches).toHaveLength(2);
    writer.append({ payload: Buffer.from("more"), recordCount: 1, firstTimestampNs: T0 });
    writer.sync();
    const res = await r.read(4, 1e6);
    expect(res.batches.map((b) => b.payload.toString())).toEqual(["more"]);
    expect(res.nextOffset).toBe(5);
    writer.close();
    await r.close();
  });
});
