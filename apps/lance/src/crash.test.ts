import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { parseTopicResponse } from "@lance/protocol";
import { verifyTopic } from "@lance/index";
import { scanWalFile } from "@lance/wal";
import { LANCE, Wire, killAllLance, startLance } from "./test-lance.js";

afterEach(killAllLance);

const ITERATIONS = Number(process.env.LANCE_CRASH_ITERATIONS ?? 4);

/**
 * Three pipelined connections produce `w{k}-{n};` records until the server is killed.
 * Returns, per connection, the sequence numbers that were acknowledged.
 */
async function produceUntilKilled(port: number, topicId: number, killAfterMs: number, kill: () => void): Promise<Set<string>> {
  const acked = new Set<string>();
  let stop = false;
  setTimeout(() => {
    stop = true;
    kill();
  }, killAfterMs);
  const worker = async (k: number) => {
    const w = await Wire.open(port);
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; !stop; n++) {
      const rec = `w${k}-${n}`;
      const p: Promise<void> = w
        .request({ type: "ingest", batchId: BigInt(n), timestampNs: BigInt(Date.now()) * 1_000_000n, recordCount: 1, topicId, payload: Buffer.from(`${rec};`) })
        .then(
          (r) => {
            if (r.type === "ack" && r.batchId === BigInt(n)) acked.add(rec);
          },
          () => undefined,
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 16) await Promise.race(inFlight);
    }
    await Promise.allSettled(inFlight);
    w.close();
  };
  await Promise.all([worker(0), worker(1), worker(2)]);
  return acked;
}

async function readAll(port: number, topicId: number): Promise<string[]> {
  const w = await Wire.open(port);
  const out: string[] = [];
  let offset = 0n;
  for (;;) {
    const r = await w.request({ type: "fetch", topicId, startOffset: offset, maxBytes: 1 << 20 });
    if (r.type !== "fetchResponse") throw new Error(`fetch failed: ${JSON.stringify(r)}`);
    if (r.data.byteLength === 0) break;
    out.push(...Buffer.from(r.data).toString().split(";").filter(Boolean));
    offset = r.nextOffset;
  }
  w.close();
  return out;
}

async function countRecords(port: number, topicId: number): Promise<number> {
  const w = await Wire.open(port);
  let offset = 0n;
  for (;;) {
    const r = await w.request({ type: "fetch", topicId, startOffset: offset, maxBytes: 1 << 20 });
    if (r.type !== "fetchResponse" || r.data.byteLength === 0) break;
    offset = r.nextOffset;
  }
  w.close();
  return Number(offset);
}

async function createTopic(port: number, name: string): Promise<number> {
  const w = await Wire.open(port);
  const body = parseTopicResponse(((await w.request({ type: "createTopic", name })) as { json: string }).json);
  w.close();
  if (body.kind !== "topic") throw new Error("create failed");
  return body.topic.id;
}

describe("lance shutdown", () => {
  it("drains on SIGTERM with idle clients connected and exits 0", { timeout: 30_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), "lance-term-"));
    const lance = await startLance(["--standalone", "--data-dir", data]);
    const topicId = await createTopic(lance.port, "t");
    const idle = await Wire.open(lance.port);
    const busy = await Wire.open(lance.port);
    const acks = Array.from({ length: 200 }, (_, i) =>
      busy.request({ type: "ingest", batchId: BigInt(i), timestampNs: 0n, recordCount: 1, topicId, payload: Buffer.alloc(1000, i) }),
    );
    const t0 = Date.now();
    lance.proc.kill("SIGTERM");
    const replies = await Promise.allSettled(acks);
    expect(await lance.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Every request that was read got its reply before the connection closed.
    const answered = replies.filter((r) => r.status === "fulfilled").length;
    expect(replies.slice(0, answered).every((r) => r.status === "fulfilled" && r.value.type === "ack")).toBe(true);
    idle.close();
    busy.close();
    const again = await startLance(["--standalone", "--data-dir", data]);
    expect(await countRecords(again.port, topicId)).toBeGreaterThanOrEqual(answered);
    again.proc.kill("SIGTERM");
    await again.exited;
  });
});

describe("lance survives kill -9", () => {
  it(`keeps every acknowledged record exactly once, in order, across ${ITERATIONS} SIGKILLs`, { timeout: 120_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), "lance-crash-"));
    let lance = await startLance(["--standalone", "--data-dir", data]);
    let totalAcked = 0;
    for (let round = 0; round < ITERATIONS; round++) {
      const topicId = await createTopic(lance.port, `crash-${round}`);
      const current = lance;
      const acked = await produceUntilKilled(current.port, topicId, 150 + Math.floor(Math.random() * 400), () => current.proc.kill("SIGKILL"));
      await current.exited;
      totalAcked += acked.size;
      if (process.env.LANCE_CRASH_VERBOSE) console.log(`round ${round}: ${acked.size} acked`);
      lance = await startLance(["--standalone", "--data-dir", data]);
      const records = await readAll(lance.port, topicId);
      expect(new Set(records).size, "a record appears twice").toBe(records.length);
      const present = new Set(records);
      const lost = [...acked].filter((a) => !present.has(a));
      expect(lost, `acknowledged records lost in round ${round}`).toEqual([]);
      for (const k of [0, 1, 2]) {
        const seq = records.filter((r) => r.startsWith(`w${k}-`)).map((r) => Number(r.split("-")[1]));
        expect(seq, `connection ${k} out of order`).toEqual([...seq].sort((a, b) => a - b));
      }
      const report = verifyTopic(join(data, "segments", `crash-${round}`));
      expect(report.issues.filter((x) => x.severity === "error")).toEqual([]);
    }
    lance.proc.kill("SIGTERM");
    expect(await lance.exited).toBe(0);
    expect(totalAcked).toBeGreaterThan(0);
  });

  it("refuses to start on a WAL corrupted mid-file and says which lnc repair to run", { timeout: 60_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), "lance-walbad-"));
    const lance = await startLance(["--standalone", "--data-dir", data]);
    const topicId = await createTopic(lance.port, "t");
    const w = await Wire.open(lance.port);
    for (let i = 0; i < 50; i++) await w.request({ type: "ingest", batchId: BigInt(i), timestampNs: 0n, recordCount: 1, topicId, payload: Buffer.alloc(300, i) });
    lance.proc.kill("SIGKILL");
    await lance.exited;
    const walDir = join(data, "wal");
    const file = join(walDir, readdirSync(walDir).find((f) => f.endsWith(".wal"))!);
    const entries = scanWalFile(file).records.filter((r) => r.kind === "entry");
    const victim = entries[entries.length - 10]!;
    const bytes = readFileSync(file);
    bytes[victim.offset + victim.size - 50]! ^= 0xff;
    writeFileSync(file, bytes);
    const r = spawnSync(process.execPath, [LANCE, "--standalone", "--data-dir", data, "--listen", "127.0.0.1:0", "--health", "off", "--metrics", "off"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/WAL replay failed: .*\.wal at byte \d+: .*lnc repair --path .*wal/s);
  });
});
