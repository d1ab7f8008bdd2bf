import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SegmentWriter, writeTopicMetadata } from "@lance/segment-format";
import { formatBytes, formatRange, formatTimestamp, table, toJson } from "./format.js";
import { runListTopicsOffline, listTopicsOffline } from "./commands/list-topics.js";
import { runScan } from "./commands/scan.js";
import { repairMode } from "./commands/repair.js";
import { resolveTopicDir } from "./commands/topics.js";
import type { CommandIO } from "./io.js";

function capture(): CommandIO & { text: () => string } {
  const out: string[] = [];
  return { out: (t) => out.push(t), err: (t) => out.push(t), interactive: false, text: () => out.join("\n") };
}

describe("formatting", () => {
  it("renders bigints, sizes, ranges, timestamps and tables", () => {
    expect(JSON.parse(toJson({ ts: 1_700_000_000_000_000_001n }))).toEqual({ ts: "1700000000000000001" });
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3.00 GiB");
    expect(formatRange(5, 5)).toBe("(empty)");
    expect(formatRange(5, 9)).toBe("5..8");
    expect(formatTimestamp(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456789Z");
    expect(formatTimestamp(42n)).toBe("42 ns");
    expect(table([["A", "BB"], ["ccc", "d"]])).toBe("A    BB\nccc  d");
  });
});

describe("commands as functions", () => {
  it("lists topics of a data dir, marking directories without readable metadata", () => {
    const data = mkdtempSync(join(tmpdir(), "cli-"));
    const good = join(data, "segments", "good");
    mkdirSync(good, { recursive: true });
    writeTopicMetadata(good, { id: 3, name: "good", created_at: 1, topic_epoch: 1, auth: null, retention: { max_bytes: 10, max_age_secs: null } });
    SegmentWriter.create(good, 0, 5n).release();
    mkdirSync(join(data, "segments", "broken"));
    writeFileSync(join(data, "segments", "broken", "metadata.json"), "{nope");
    mkdirSync(join(data, "segments", "bare"));
    const topics = listTopicsOffline(data);
    expect(topics.map((t) => [t.name, t.status, t.segments])).toEqual([
      ["bare", "no-metadata", 0],
      ["broken", "bad-metadata", 0],
      ["good", "ok", 1],
    ]);
    const io = capture();
    expect(runListTopicsOffline({ path: data, json: true }, io)).toBe(0);
    expect(JSON.parse(io.text()).map((t: { name: string }) => t.name)).toEqual(["bare", "broken", "good"]);
    expect(resolveTopicDir(data, "3")).toBe(good);
    expect(() => resolveTopicDir(data, "missing")).toThrow(/topics: bare, broken, good/);
  });

  it("scan reports an empty segment and exits 0", () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const w = SegmentWriter.create(dir, 10, 5n);
    w.release();
    const io = capture();
    expect(runScan({ path: w.path }, io)).toBe(0);
    expect(io.text()).toMatch(/Offset range:\s+\(empty\)/);
  });

  it("refuses contradictory repair flags", () => {
    expect(repairMode({})).toBe("tail");
    expect(repairMode({ skipCorrupt: true })).toBe("skip-corrupt");
    expect(() => repairMode({ skipCorrupt: true, truncateAtDamage: true })).toThrow(/choose one/);
  });
});
