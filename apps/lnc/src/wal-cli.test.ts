import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal, scanWalFile } from "@lance/wal";
import { lnc } from "./test-lnc.js";


/** `{data}/wal` with 20 entries; returns the WAL file holding them. */
async function walWithEntries(): Promise<{ dir: string; file: string }> {
  const dir = join(mkdtempSync(join(tmpdir(), "lnc-wal-")), "wal");
  const wal = await Wal.open(dir, { segmentSize: 1 << 20 });
  await wal.append(Array.from({ length: 20 }, (_, i) => ({ index: i + 1, term: 1, payload: Buffer.from(`entry-${i + 1}`.padEnd(100, ".")) })));
  await wal.close();
  const file = join(dir, readdirSync(dir).find((f) => f.endsWith(".wal"))!);
  return { dir, file };
}

describe("lnc on the WAL (runbook 2.3)", () => {
  it("scan lists the frames of a WAL file with their CRC status", async () => {
    const { file } = await walWithEntries();
    const r = lnc("scan", "--path", file, "--limit", "0");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Entries:\s+20, indexes 1\.\.20/);
    expect(r.out).toMatch(/CRC status:\s+all frames OK/);
  });

  it("repair truncates at mid-file damage; --skip-corrupt keeps the entries after it; both keep a backup", { timeout: 60_000 }, async () => {
    for (const skip of [false, true]) {
      const { dir, file } = await walWithEntries();
      const victim = scanWalFile(file).records.find((rec) => rec.index === 8)!;
      const bytes = readFileSync(file);
      bytes[victim.offset + victim.size - 20]! ^= 0xff;
      writeFileSync(file, bytes);
      expect(lnc("scan", "--path", file).code).toBe(1);

      const dry = lnc("repair", "--path", dir, "--dry-run", ...(skip ? ["--skip-corrupt"] : []));
      expect(dry.code).toBe(0);
      expect(dry.out).toContain("dry run: nothing changed");
      expect(readFileSync(file)).toEqual(bytes);

      const r = lnc("repair", "--path", dir, ...(skip ? ["--skip-corrupt"] : []));
      expect(r.code, r.out + r.err).toBe(0);
      const backup = /backup:\s+(\S+)/.exec(r.out)![1]!;
      expect(existsSync(backup)).toBe(true);
      const wal = await Wal.open(dir);
      if (skip) {
        expect(r.out).toMatch(/hole:\s+indexes 8\.\.8 lost/);
        expect(wal.lastIndex()).toBe(20);
        expect(wal.holes()).toEqual([{ from: 8, to: 8 }]);
      } else {
        expect(r.out).toMatch(/dropped:\s+12 valid entries/);
        expect(wal.lastIndex()).toBe(7);
      }
      await wal.close();
      expect(lnc("repair", "--path", dir).out).toContain("nothing to repair");
    }
  });

  it("refuses a directory that is not a WAL", () => {
    const r = lnc("repair", "--path", mkdtempSync(join(tmpdir(), "not-wal-")));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not a WAL directory/);
  });
});
