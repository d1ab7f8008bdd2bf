import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLanceError } from "@lance/segment-format";
import { Wal } from "./wal.js";
import { repairWal } from "./repair.js";
import { entriesFrom, payloadFor, tempDir, walFiles } from "./test-helpers.js";

const small = { segmentSize: 16 * 1024 };

async function expectLog(wal: Wal, from: number, to: number): Promise<void> {
  const got = await wal.entries(from, to + 1);
  expect(got.map((e) => e.index)).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
  for (const e of got) expect(Buffer.from(e.payload).equals(payloadFor(e.index))).toBe(true);
}

describe("Wal", () => {
  it("appends, reads back and replays after reopen, across many files", async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, small);
    expect(wal.firstIndex()).toBe(1);
    expect(wal.lastIndex()).toBe(0);
    for (let i = 1; i <= 500; i += 10) await wal.append(entriesFrom(i, 10, 1 + Math.floor(i / 100)));
    expect(wal.lastIndex()).toBe(500);
    expect(wal.term(250)).toBe(3);
    await expectLog(wal, 1, 500);
    await wal.close();
    expect(walFiles(dir).length).toBeGreaterThanOrEqual(3);

    const again = await Wal.open(dir, small);
    expect(again.recovery.tornTail).toBeNull();
    expect(again.lastIndex()).toBe(500);
    expect(again.lastTerm()).toBe(5);
    await expectLog(again, 1, 500);
    await again.append(entriesFrom(501, 1, 6));
    await again.close();
  });

  it("rejects appends that break index or term order", async () => {
    const wal = await Wal.open(tempDir(), small);
    await wal.append(entriesFrom(1, 3, 2));
    await expect(wal.append(entriesFrom(5, 1, 2))).rejects.toMatchObject({ code: "LNC_WAL_BAD_APPEND" });
    await expect(wal.append(entriesFrom(4, 1, 1))).rejects.toMatchObject({ code: "LNC_WAL_BAD_APPEND" });
    await expect(wal.append({ index: 4, term: 2, type: 0xfe, payload: Buffer.alloc(1) })).rejects.toMatchObject({ code: "LNC_WAL_BAD_APPEND" });
    await expect(wal.append({ index: 4, term: 2, payload: Buffer.alloc(20_000) })).rejects.toMatchObject({ code: "LNC_WAL_ENTRY_TOO_LARGE" });
    await expect(wal.entries(0, 2)).rejects.toMatchObject({ code: "LNC_WAL_OUT_OF_RANGE" });
    await wal.close();
  });

  it("group-commits concurrent appends into few fdatasyncs, each resolving after its sync", async () => {
    const wal = await Wal.open(tempDir(), { segmentSize: 1024 * 1024 });
    let next = 1;
    const acks: number[] = [];
    const all = Array.from({ length: 200 }, () => {
      const e = entriesFrom(next++, 1)[0]!;
      return wal.append(e).then(() => {
        expect(wal.durableIndex()).toBeGreaterThanOrEqual(e.index);
        acks.push(e.index);
      });
    });
    await Promise.all(all);
    expect(acks.length).toBe(200);
    expect(wal.ioStats().syncs).toBeLessThan(10);
    await wal.close();
  });

  it("truncates a conflicting suffix durably, including across files", async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, small);
    await wal.append(entriesFrom(1, 300, 1));
    await wal.truncateSuffix(100);
    expect(wal.lastIndex()).toBe(99);
    await wal.append(entriesFrom(100, 5, 2));
    await expectLog(wal, 1, 104);
    await wal.close();
    const again = await Wal.open(dir, small);
    expect(again.lastIndex()).toBe(104);
    expect(again.term(100)).toBe(2);
    expect(again.term(99)).toBe(1);
    await expectLog(again, 1, 104);
    // a truncation that is not followed by appends is durable too
    await again.truncateSuffix(50);
    await again.close();
    const third = await Wal.open(dir, small);
    expect(third.lastIndex()).toBe(49);
    await third.close();
  });

  it("recycles files behind the checkpoint so the directory stops growing", async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { ...small, maxSpareFiles: 2 });
    let next = 1;
    const counts: number[] = [];
    for (let round = 0; round < 30; round++) {
      await wal.append(entriesFrom(next, 40, 1, 200));
      next += 40;
      await wal.markCheckpoint(next - 1);
      counts.push(walFiles(dir).length);
    }
    expect(Math.max(...counts.slice(10))).toBeLessThanOrEqual(4);
    expect(wal.firstIndex()).toBeGreaterThan(1000);
    await wal.close();
    const again = await Wal.open(dir, small);
    expect(again.lastIndex()).toBe(next - 1);
    expect(again.checkpoint()).toEqual({ index: next - 1, term: 1 });
    await again.close();
  });

  it("persists hard state and snapshot resets", async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, small);
    await wal.setHardState({ term: 7, vote: 2, commit: 0 });
    await wal.append(entriesFrom(1, 20, 7));
    await wal.reset(1000, 9);
    expect(wal.firstIndex()).toBe(1001);
    expect(wal.lastIndex()).toBe(1000);
    expect(wal.term(1000)).toBe(9);
    await wal.append({ index: 1001, term: 9, payload: payloadFor(1001) });
    await wal.close();
    const again = await Wal.open(dir, small);
    expect(again.hardState()).toEqual({ term: 7, vote: 2, commit: 0 });
    expect(again.firstIndex()).toBe(1001);
    expect(again.lastIndex()).toBe(1001);
    await expectLog(again, 1001, 1001);
    await again.close();
  });

  it("cuts a torn tail on open and reports it once", async () => {
    const dir = tempDir();
    const events: string[] = [];
    const wal = await Wal.open(dir, small);
    await wal.append(entriesFrom(1, 10));
    await wal.close();
    const file = join(dir, walFiles(dir)[0]!);
    const bytes = readFileSync(file);
    // Write a frame for index 11 and cut it in half: what a crash in mid-write leaves.
    const { encodeFrame, payloadLength } = await import("./format.js");
    const frame = encodeFrame({ type: 0, epoch: 99, index: 11, term: 1, payload: payloadFor(11) });
    const end = 48 + entriesFrom(1, 10).reduce((n, e) => n + Math.ceil((40 + payloadLength(e.payload)) / 8) * 8, 0);
    frame.copy(bytes, end, 0, 30);
    writeFileSync(file, bytes);
    const again = await Wal.open(dir, { ...small, logger: (e) => events.push(e.event) });
    expect(again.recovery.tornTail).toMatchObject({ offset: end });
    expect(events).toContain("wal.torn_tail_truncated");
    expect(again.lastIndex()).toBe(10);
    await again.close();
    const third = await Wal.open(dir, small);
    expect(third.recovery.tornTail).toBeNull();
    await third.append(entriesFrom(11, 1));
    await third.close();
  });

  it("refuses corruption followed by valid entries with the runbook error", async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, small);
    await wal.append(entriesFrom(1, 10));
    await wal.close();
    const file = join(dir, walFiles(dir)[0]!);
    const bytes = readFileSync(file);
    bytes[148] = bytes[148]! ^ 0x01;
    writeFileSync(file, bytes);
    const err = await Wal.open(dir, small).catch((e: unknown) => e);
    expect(isLanceError(err, "LNC_WAL_CORRUPT")).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toMatch(new RegExp(`^WAL replay failed: ${file} at byte \\d+: CRC mismatch`));
    expect(msg).toContain(`lnc repair --path ${dir}`);
    expect(msg).toContain("--skip-corrupt");
  });

  it("allows one writer per directory and refuses repair while it runs", async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, small);
    await expect(Wal.open(dir, small)).rejects.toMatchObject({ code: "LNC_WAL_LOCKED" });
    expect(() => repairWal(dir)).toThrow(expect.objectContaining({ code: "LNC_WAL_LOCKED" }));
    expect(repairWal(dir, { dryRun: true }).action).toBe("none");
    await wal.close();
    // a lock file left by a dead process is taken over
    writeFileSync(join(dir, "wal.lock"), "999999999\n");
    const again = await Wal.open(dir, small);
    await again.close();
  });

  it("honours the group-commit window and maxBatchBytes", async () => {
    const windowed = await Wal.open(tempDir(), { segmentSize: 1024 * 1024, groupCommitWindowMs: 20 });
    const first = windowed.append(entriesFrom(1, 1));
    await new Promise((r) => setTimeout(r, 5));
    const late = entriesFrom(2, 49).map((e) => windowed.append(e));
    await Promise.all([first, ...late]);
    expect(windowed.ioStats()).toMatchObject({ syncs: 1, records: 50 });
    await windowed.close();

    const capped = await Wal.open(tempDir(), { segmentSize: 1024 * 1024, maxBatchBytes: 1000 });
    await Promise.all(entriesFrom(1, 40, 1, 100).map((e) => capped.append(e)));
    // 100-byte payloads make 144-byte frames: at most 6 fit in 1000 bytes
    expect(capped.ioStats().writes).toBeGreaterThanOrEqual(7);
    expect(capped.ioStats().bytes / capped.ioStats().writes).toBeLessThanOrEqual(1000);
    await capped.close();
  });

  it("keeps working when the configured file size changes between runs", async () => {
    const dir = tempDir();
    const a = await Wal.open(dir, { segmentSize: 8192, maxSpareFiles: 1 });
    for (let i = 1; i <= 200; i += 20) await a.append(entriesFrom(i, 20));
    await a.markCheckpoint(150);
    await a.close();
    const b = await Wal.open(dir, { segmentSize: 32768, maxSpareFiles: 1 });
    expect(b.lastIndex()).toBe(200);
    for (let i = 201; i <= 1200; i += 50) await b.append(entriesFrom(i, 50));
    await b.markCheckpoint(1100);
    await expectLog(b, b.firstIndex(), 1200);
    await b.close();
    const c = await Wal.open(dir, { segmentSize: 8192 });
    expect(c.lastIndex()).toBe(1200);
    await expectLog(c, c.firstIndex(), 1200);
    await c.close();
  });
});

describe("payload parts", () => {
  it("stores an entry given in parts exactly as the joined bytes, written or not yet written", async () => {
    const dir = join(tempDir(), "wal");
    const wal = await Wal.open(dir, { segmentSize: 1 << 20 });
    const parts = [Buffer.from("head:"), Buffer.alloc(0), Buffer.from("body-bytes")];
    const pending = wal.append({ index: 1, term: 1, payload: parts });
    expect(Buffer.from((await wal.entries(1, 2))[0]!.payload).toString()).toBe("head:body-bytes");
    await pending;
    expect(Buffer.from((await wal.entries(1, 2))[0]!.payload).toString()).toBe("head:body-bytes");
    await wal.close();
    const again = await Wal.open(dir, { segmentSize: 1 << 20 });
    expect(Buffer.from((await again.entries(1, 2))[0]!.payload).toString()).toBe("head:body-bytes");
    await again.close();
  });
});
