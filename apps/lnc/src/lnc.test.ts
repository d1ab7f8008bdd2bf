import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { TopicWriter } from "@lance/index";
import { writeTopicMetadata } from "@lance/segment-format";
import { LNC, lnc } from "./test-lnc.js";

const T0 = 1_700_000_000_000_000_000n;


/** A data dir laid out as /data/lance in the runbook, with topic `orders` over several segments. */
function dataDir(batches = 60) {
  const data = mkdtempSync(join(tmpdir(), "lnc-cli-"));
  const dir = join(data, "segments", "orders");
  mkdirSync(dir, { recursive: true });
  writeTopicMetadata(dir, { id: 7, name: "orders", created_at: 1_700_000_000, topic_epoch: 1, auth: null, retention: null });
  let t = T0;
  const w = TopicWriter.open(dir, { maxSegmentBytes: 2500, clock: () => (t += 1_000_000n) });
  for (let i = 0; i < batches; i++) w.append({ payload: Buffer.alloc(100, i), recordCount: 2, firstTimestampNs: T0 + BigInt(i) });
  w.close();
  const segments = readdirSync(dir).filter((f) => f.endsWith(".lnc")).sort((a, b) => parseInt(a) - parseInt(b)).map((f) => join(dir, f));
  return { data, dir, segments };
}

function flip(path: string, at: number) {
  const b = readFileSync(path);
  b[at]! ^= 0x40;
  writeFileSync(path, b);
}

describe("lnc offline tools (built binary, real files)", () => {
  it("list-topics prints a table, and a JSON array with name fields for scripts", () => {
    const { data } = dataDir(5);
    const human = lnc("list-topics", "--path", data);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/NAME\s+ID\s+SEGMENTS[\s\S]*orders\s+7/);
    const json = lnc("list-topics", "--path", data, "--json");
    expect(JSON.parse(json.out).map((t: { name: string }) => t.name)).toEqual(["orders"]);
  });

  it("verify-data passes a healthy topic and pinpoints a flipped byte (runbook 2.1 / 3.1)", () => {
    const { data, segments } = dataDir();
    const ok = lnc("verify-data", "--path", data, "--topic", "orders");
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("✓ All data verified");
    expect(lnc("verify-data", "--path", data, "--topic", "7").code).toBe(0);

    flip(segments[1]!, 200);
    flip(segments[2]!, 300);
    const bad = lnc("verify-data", "--path", data, "--topic", "orders");
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`ERROR   ${segments[1]} at byte 172`);
    expect(bad.out).toContain("LNC_CRC_MISMATCH");
    expect(bad.out).toContain("✗ Verification failed with 2 errors");
    const fast = lnc("verify-data", "--path", data, "--topic", "orders", "--fail-fast");
    expect(fast.code).toBe(1);
    expect(fast.out).toContain("Stopped at the first error");
    const json = JSON.parse(lnc("verify-data", "--path", data, "--topic", "orders", "--json").out);
    expect(json.ok).toBe(false);
    expect(json.issues.filter((i: { severity: string }) => i.severity === "error").map((i: { file: string }) => i.file)).toEqual([segments[1], segments[2]]);
  });

  it("scan shows record count, offset range and per-batch CRC status, and the last valid offset (runbook 3.2 / 4.1)", () => {
    const { segments } = dataDir();
    const ok = lnc("scan", "--path", segments[0]!);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/Records:\s+\d+/);
    expect(ok.out).toMatch(/Offset range:\s+0\.\.\d+/);
    expect(ok.out).toMatch(/CRC status:\s+all batches OK/);
    flip(segments[0]!, 32 + 140 * 3 + 60);
    const bad = lnc("scan", "--path", segments[0]!, "--limit", "0");
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/452\s+-\s+-\s+140\s+-\s+BAD crc_mismatch/);
    expect(bad.out).toContain("Last valid offset before the damage: 5 (byte 452)");
    const json = JSON.parse(lnc("scan", "--path", segments[0]!, "--json").out);
    expect(json.problems[0]).toMatchObject({ kind: "crc_mismatch", position: 452 });
  });

  it("repair truncates a torn tail with a backup, after a dry run that changes nothing (runbook 4.1)", () => {
    const { data, dir, segments } = dataDir();
    const active = segments.at(-1)!;
    const size = statSync(active).size;
    appendFileSync(active, Buffer.from([0x99, 0x00, 0x00, 0x00, 0x12, 0x34]));
    expect(lnc("verify-data", "--path", data, "--topic", "orders").code).toBe(1);
    const dry = lnc("repair", "--path", active, "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("dry run: nothing changed");
    expect(statSync(active).size).toBe(size + 6);
    const fixed = lnc("repair", "--path", active);
    expect(fixed.code).toBe(0);
    expect(fixed.out).toMatch(/size:\s+\d+ -> \d+ bytes \(6 bytes dropped\)/);
    expect(statSync(active).size).toBe(size);
    const backup = readdirSync(dir).find((f) => f.endsWith(".cut"))!;
    expect(readFileSync(join(dir, backup))).toEqual(Buffer.from([0x99, 0x00, 0x00, 0x00, 0x12, 0x34]));
    expect(lnc("verify-data", "--path", data, "--topic", "orders").code).toBe(0);
  });

  it("repair refuses mid-segment damage unless told how; --skip-corrupt keeps the valid batches", () => {
    const { data, segments } = dataDir();
    flip(segments[0]!, 32 + 140 + 70);
    const refused = lnc("repair", "--path", segments[0]!);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/REFUSED: damage at byte 172 \(crc_mismatch\) is not at the tail: \d+ valid batch\(es\) follow it\. Re-run with --skip-corrupt/);
    const skipped = lnc("repair", "--path", segments[0]!, "--skip-corrupt");
    expect(skipped.code).toBe(0);
    expect(skipped.out).toContain("backup:");
    const v = lnc("verify-data", "--path", data, "--topic", "orders");
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/WARNING[\s\S]*offsets 2\.\.3 are not in this segment/);
    expect(lnc("repair", "--path", segments[0]!, "--skip-corrupt", "--truncate-at-damage").code).toBe(2);
  });

  it("rebuild-index restores lost indexes and inspect-index verifies them (runbook 2.2)", () => {
    const { data, dir } = dataDir();
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".idx"))) unlinkSync(join(dir, f));
    expect(lnc("verify-data", "--path", data, "--topic", "orders").code).toBe(1);
    const rebuilt = lnc("rebuild-index", "--path", dir);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.out).toMatch(/index\.idx\s+\d+ entries/);
    const cat = lnc("inspect-index", "--path", join(dir, "index.idx"));
    expect(cat.code).toBe(0);
    expect(cat.out).toMatch(/Topic catalog: [\s\S]*CRC status:\s+OK[\s\S]*Offsets:\s+0\.\.119/);
    const segIdx = readdirSync(dir).find((f) => f.endsWith(".idx") && f !== "index.idx")!;
    const one = lnc("inspect-index", "--path", join(dir, segIdx));
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/Covers:\s+bytes 0\.\.\d+ \(100\.0% of the segment\)/);
    expect(lnc("verify-data", "--path", data, "--topic", "orders").code).toBe(0);

    flip(join(dir, "index.idx"), 60);
    const bad = lnc("inspect-index", "--path", join(dir, "index.idx"));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/CRC status:\s+BAD/);
  });

  it("a quarantined segment becomes a recorded gap that verify-data warns about (runbook 4.2)", () => {
    const { data, dir, segments } = dataDir();
    const victim = segments[1]!;
    mkdirSync(join(data, "quarantine"));
    renameSync(victim, join(data, "quarantine", victim.split("/").pop()!));
    const rebuilt = lnc("rebuild-index", "--path", dir);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.out).toMatch(/gap \d+\.\.\d+ \(quarantined\)/);
    expect(rebuilt.out).toContain(`removed ${victim.split("/").pop()!.replace(".lnc", ".idx")}`);
    const v = lnc("verify-data", "--path", data, "--topic", "orders");
    expect(v.code).toBe(0);
    expect(v.out).toContain("quarantined segment");
    expect(existsSync(victim.replace(".lnc", ".idx"))).toBe(false);
  });

  it("the README's storage demo runs to a clean verify", () => {
    const data = mkdtempSync(join(tmpdir(), "lnc-demo-"));
    const demo = join(dirname(LNC), "..", "demo", "storage-demo.mjs");
    const r = spawnSync(process.execPath, [demo], { encoding: "utf8", env: { ...process.env, LANCE_DATA_DIR: data } });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("6 bytes dropped");
    expect(r.stdout.trimEnd().split("\n").slice(-2)[0]).toBe("✓ All data verified");
  });

  it("bad invocations get one clear line and exit 2", () => {
    const { data } = dataDir(2);
    const missing = lnc("verify-data", "--path", data, "--topic", "nope");
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/topic "nope" not found .* \(topics: orders\) \[LNC_NOT_FOUND\]/);
    expect(lnc("scan", "--path", join(data, "nothing.lnc")).err).toMatch(/does not exist/);
    expect(lnc("inspect-index", "--path", join(data, "segments", "orders", "metadata.json")).err).toMatch(/not a LANCE index/);
    expect(lnc("scan").code).not.toBe(0);
  });
});
