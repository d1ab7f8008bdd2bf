import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLanceError } from "@lance/segment-format";
import { detectWalPath, repairStagingDirFor } from "./paths.js";
import { repairWal } from "./repair.js";
import { scanWalDir, scanWalFile } from "./scan.js";
import { Wal } from "./wal.js";
import { entriesFrom, payloadFor, tempDir, walFiles } from "./test-helpers.js";

const opts = { segmentSize: 8192 };

/** A data dir whose WAL has one flipped byte in entry 20 of 60. */
async function corruptDataDir(): Promise<{ dataDir: string; wal: string; file: string }> {
  const dataDir = tempDir();
  const wal = join(dataDir, "wal");
  const w = await Wal.open(wal, opts);
  await w.setHardState({ term: 3, vote: 1, commit: 55 });
  await w.append(entriesFrom(1, 60, 3));
  await w.close();
  const file = join(wal, walFiles(wal)[0]!);
  const entry20 = scanWalFile(file).records.find((r) => r.index === 20)!;
  const bytes = readFileSync(file);
  bytes[entry20.offset + 50] = bytes[entry20.offset + 50]! ^ 0x40;
  writeFileSync(file, bytes);
  return { dataDir, wal, file };
}

describe("runbook 2.3: WAL corruption", () => {
  it("startup refuses, `lnc repair --path <wal>` truncates and backs up, restart works", async () => {
    const { dataDir, wal, file } = await corruptDataDir();
    const err = await Wal.open(wal, opts).catch((e: unknown) => e);
    expect(isLanceError(err, "LNC_WAL_CORRUPT")).toBe(true);
    expect((err as Error).message.split("\n")[0]).toMatch(new RegExp(`^WAL replay failed: ${file} at byte \\d+: CRC mismatch`));
    expect((err as Error).message.split("\n")[1]).toBe(
      `run: lnc repair --path ${wal}  (truncates at the first bad entry; add --skip-corrupt to keep the valid entries after it, --dry-run to preview)`,
    );

    const scan = scanWalDir(wal);
    expect(scan.status).toBe("corrupt");
    expect(scan.replayError).toBe((err as Error).message);
    expect(scan.damages).toHaveLength(1);
    expect(scan.damages[0]).toMatchObject({ file, lostFrom: 20, lostTo: 20, resumeIndex: 21 });

    const original = readFileSync(file);
    const report = repairWal(wal, { now: new Date("2026-11-25T07:15:00Z") });
    expect(report).toMatchObject({
      mode: "truncate",
      status: "corrupt",
      action: "rewritten",
      keptEntries: 19,
      lastIndex: 19,
      droppedEntries: 40,
      backupDir: join(dataDir, "wal.backup-20261125T071500Z"),
    });
    expect(report.droppedBytes).toBeGreaterThan(40 * 56);
    expect(readdirSync(dataDir).sort()).toEqual(["wal", "wal.backup-20261125T071500Z"]);
    expect(readFileSync(file.replace(wal, report.backupDir!)).equals(original)).toBe(true);

    const w = await Wal.open(wal, opts);
    expect(w.lastIndex()).toBe(19);
    expect(w.hardState()).toEqual({ term: 3, vote: 1, commit: 55 });
    await w.append(entriesFrom(20, 1, 3));
    await w.close();
    expect(repairWal(wal).action).toBe("none");
  });

  it("--skip-corrupt keeps the entries after the damage and leaves a hole that replay reports", async () => {
    const { wal } = await corruptDataDir();
    const dry = repairWal(wal, { skipCorrupt: true, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, action: "rewritten", keptEntries: 59, lastIndex: 60, holes: [{ from: 20, to: 20 }] });
    expect(existsSync(dry.backupDir!)).toBe(false);
    const report = repairWal(wal, { skipCorrupt: true });
    expect(report).toMatchObject({ mode: "skip-corrupt", keptEntries: 59, droppedEntries: 0, holes: [{ from: 20, to: 20 }] });

    const w = await Wal.open(wal, opts);
    expect(w.recovery.holes).toEqual([{ from: 20, to: 20 }]);
    expect(w.lastIndex()).toBe(60);
    expect((await w.entries(21, 61)).map((e) => Buffer.from(e.payload).equals(payloadFor(e.index)))).toEqual(Array(40).fill(true));
    await expect(w.entries(19, 22)).rejects.toMatchObject({ code: "LNC_WAL_GAP" });
    expect(() => w.term(20)).toThrow(expect.objectContaining({ code: "LNC_WAL_GAP" }));
    // a cluster node drops the hole and everything after it, and the leader resends
    await w.truncateSuffix(20);
    await w.append(entriesFrom(20, 5, 4));
    await w.close();
    const again = await Wal.open(wal, opts);
    expect(again.holes()).toEqual([]);
    expect(again.lastIndex()).toBe(24);
    await again.close();
  });

  it("a crash between the two renames of a repair is finished by rerunning repair", async () => {
    const { dataDir, wal } = await corruptDataDir();
    const report = repairWal(wal);
    // Simulate the crash: put the repaired dir back as staging (with its marker) and remove wal/.
    const staging = repairStagingDirFor(wal);
    renameSync(wal, staging);
    writeFileSync(join(staging, "REPAIR_COMPLETE"), wal);
    await expect(Wal.open(wal, opts)).rejects.toMatchObject({ code: "LNC_WAL_REPAIR_INCOMPLETE" });
    expect(existsSync(wal)).toBe(false);
    expect(repairWal(wal).action).toBe("finished-interrupted");
    const w = await Wal.open(wal, opts);
    expect(w.lastIndex()).toBe(report.lastIndex);
    await w.close();
    expect(readdirSync(dataDir).filter((n) => n.includes("staging"))).toEqual([]);
  });
});

describe("corrupt checkpoint.json", () => {
  it("stops startup with the repair command; repair writes a safe checkpoint and keeps the log", async () => {
    const dataDir = tempDir();
    const wal = join(dataDir, "wal");
    const w = await Wal.open(wal, { ...opts, maxSpareFiles: 0 });
    await w.append(entriesFrom(1, 300, 2));
    await w.markCheckpoint(250);
    const first = w.firstIndex();
    await w.close();
    expect(first).toBeGreaterThan(1);
    writeFileSync(join(wal, "checkpoint.json"), readFileSync(join(wal, "checkpoint.json"), "utf8").replace("250", "260"));
    await expect(Wal.open(wal, opts)).rejects.toMatchObject({ code: "LNC_WAL_STATE_CORRUPT", message: expect.stringContaining(`run: lnc repair --path ${wal}`) });
    expect(scanWalDir(wal)).toMatchObject({ status: "corrupt", stateProblems: [expect.stringContaining("checkpoint.json: CRC mismatch")], checkpoint: { index: first - 1 } });

    const report = repairWal(wal);
    expect(report.status).toBe("corrupt");
    expect(report.checkpointRebuilt).toMatchObject({ index: first - 1, term: 0 });
    expect(report.droppedEntries).toBe(0);
    const again = await Wal.open(wal, opts);
    expect(again.checkpoint()).toEqual({ index: first - 1, term: 0 });
    expect(again.lastIndex()).toBe(300);
    expect((await again.entries(first, 301)).every((e) => Buffer.from(e.payload).equals(payloadFor(e.index)))).toBe(true);
    await again.close();
  });
});

describe("detectWalPath", () => {
  it("tells WAL dirs and files from other paths", async () => {
    const dataDir = tempDir();
    const wal = join(dataDir, "wal");
    const w = await Wal.open(wal, opts);
    await w.append(entriesFrom(1, 3));
    await w.close();
    expect(detectWalPath(wal)).toBe("wal-dir");
    expect(detectWalPath(join(wal, walFiles(wal)[0]!))).toBe("wal-file");
    mkdirSync(join(dataDir, "segments"));
    writeFileSync(join(dataDir, "segments", "0_1.lnc"), Buffer.from("LNCSEG01........"));
    expect(detectWalPath(join(dataDir, "segments"))).toBeNull();
    expect(detectWalPath(join(dataDir, "segments", "0_1.lnc"))).toBeNull();
    expect(detectWalPath(join(dataDir, "nope"))).toBeNull();
  });
});
