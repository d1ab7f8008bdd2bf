import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal, repairWal, scanWalFile } from "@lance/wal";
import type { Entry } from "@lance/raft";
import { decodeCommand, encodeCommand } from "./commands.js";
import { ReplicaLog } from "./replica-log.js";

const dirs: string[] = [];
const wals: Wal[] = [];
afterEach(async () => {
  for (const w of wals.splice(0)) await w.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function openWal(dir?: string): Promise<{ wal: Wal; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), "lance-rlog-"));
  if (!dir) dirs.push(d);
  const wal = await Wal.open(d, { segmentSize: 64 * 1024 });
  wals.push(wal);
  return { wal, dir: d };
}

const quiet = () => undefined;
const ingest = (i: number) => encodeCommand({ kind: "ingest", entry: { topicId: 1, baseOffset: i, recordCount: 1, timestampNs: 1n, flags: 0, payload: Buffer.from(`r${i}`) } });
const entry = (index: number, term: number): Entry => ({ index, term, type: "normal", data: ingest(index) });

describe("commands", () => {
  it("round-trip an ingest and every topic change; refuse unknown bytes", () => {
    const e = decodeCommand(ingest(7), 1);
    expect(e).toMatchObject({ kind: "ingest", entry: { topicId: 1, baseOffset: 7, recordCount: 1 } });
    for (const c of [
      { kind: "createTopic" as const, name: "orders", id: 3, createdAt: 9, retention: null },
      { kind: "deleteTopic" as const, topicId: 3 },
      { kind: "setRetention" as const, topicId: 3, retention: { maxAgeSecs: 60, maxBytes: 0 } },
    ]) {
      expect(decodeCommand(encodeCommand(c), 1)).toEqual(c);
    }
    expect(() => decodeCommand(Uint8Array.of(9, 1, 2), 4)).toThrow(/entry 4 has unknown command kind 9/);
    expect(() => decodeCommand(Buffer.concat([Uint8Array.of(2), Buffer.from('{"kind":"drop"}')]), 5)).toThrow(/unknown topic command/);
  });
});

describe("ReplicaLog (Raft's log on the WAL)", () => {
  it("appends to memory and the WAL, reloads the same log, and replaces a conflicting suffix", async () => {
    const { wal, dir } = await openWal();
    const log = await ReplicaLog.load(wal, { singleVoter: false, warn: quiet });
    await log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    await log.append([{ index: 4, term: 2, type: "noop", data: new Uint8Array(0) }]);
    await log.append([entry(3, 3)]);
    expect(log.lastIndex()).toBe(3);
    expect(log.term(3)).toBe(3);
    await log.setHardState({ term: 3, vote: 2, commit: 2, rejoining: false, diskId: 77 });
    await wal.close();
    const { wal: again } = await openWal(dir);
    const reloaded = await ReplicaLog.load(again, { singleVoter: false, warn: quiet });
    expect(reloaded.entries(1, 4).map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, "normal"],
      [2, 1, "normal"],
      [3, 3, "normal"],
    ]);
    expect(Buffer.from(reloaded.entries(3, 4)[0]!.data).equals(Buffer.from(ingest(3)))).toBe(true);
    expect(reloaded.initialState()).toEqual({ term: 3, vote: 2, commit: 2, rejoining: false, diskId: 77 });
  });

  it("writes the hard state at once only when term, vote or the rejoin state change; the commit index goes with checkpoints", async () => {
    const { wal } = await openWal();
    const log = await ReplicaLog.load(wal, { singleVoter: true, warn: quiet });
    await log.append([entry(1, 1), entry(2, 1)]);
    await log.setHardState({ term: 1, vote: 1, commit: 0, rejoining: false, diskId: 5 });
    await log.setHardState({ term: 1, vote: 1, commit: 2, rejoining: false, diskId: 5 });
    expect(wal.hardState()).toMatchObject({ term: 1, vote: 1, commit: 0 });
    await log.checkpoint(2, 0);
    expect(wal.hardState()).toMatchObject({ commit: 2 });
    expect(log.firstIndex()).toBe(3);
  });

  it("keeps keepBytes of entries behind a checkpoint in memory for lagging followers", async () => {
    const { wal } = await openWal();
    const log = await ReplicaLog.load(wal, { singleVoter: true, warn: quiet });
    await log.append(Array.from({ length: 10 }, (_, i) => entry(i + 1, 1)));
    const size = ingest(1).byteLength;
    await log.checkpoint(8, 3 * size);
    expect(log.firstIndex()).toBe(6);
    expect(log.term(5)).toBe(1);
  });

  it("reads entries of the pre-Raft standalone WAL (type 1, a bare ingest) as ingest commands", async () => {
    const { wal, dir } = await openWal();
    const bare = ingest(0).subarray(1);
    await wal.append({ index: 1, term: 1, type: 1, payload: bare });
    await wal.close();
    const { wal: again } = await openWal(dir);
    const log = await ReplicaLog.load(again, { singleVoter: true, warn: quiet });
    expect(decodeCommand(log.entries(1, 2)[0]!.data, 1)).toMatchObject({ kind: "ingest", entry: { baseOffset: 0 } });
  });

  it("a hole left by lnc repair --skip-corrupt: one node fills it with no-ops (a gap in offsets); a cluster member cuts its log there", async () => {
    for (const singleVoter of [true, false]) {
      const { wal, dir } = await openWal();
      const log = await ReplicaLog.load(wal, { singleVoter, warn: quiet });
      await log.append(Array.from({ length: 6 }, (_, i) => entry(i + 1, 1)));
      await wal.close();
      const file = join(dir, readdirSync(dir).find((f) => f.endsWith(".wal"))!);
      const frame = scanWalFile(file).records.find((r) => r.kind === "entry" && r.index === 3)!;
      const bytes = readFileSync(file);
      bytes[frame.offset + 44] = bytes[frame.offset + 44]! ^ 0xff;
      writeFileSync(file, bytes);
      repairWal(dir, { skipCorrupt: true });
      const warnings: string[] = [];
      const { wal: again } = await openWal(dir);
      const reloaded = await ReplicaLog.load(again, { singleVoter, warn: (_o, m) => warnings.push(m) });
      if (singleVoter) {
        expect(reloaded.lastIndex()).toBe(6);
        expect(reloaded.entries(3, 4)[0]).toMatchObject({ index: 3, type: "noop" });
        expect(warnings.join()).toContain("their offsets stay a gap");
      } else {
        expect(reloaded.lastIndex()).toBe(2);
        expect(warnings.join()).toContain("fetched from the leader");
      }
    }
  });
});
