import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type LanceServer, type Logger } from "@lance/server";
import { LNC, lncAsync as lnc, sh } from "./test-lnc.js";


const silent: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent };

let server: LanceServer;
let S = "";

beforeAll(async () => {
  server = createServer({ dataDir: mkdtempSync(join(tmpdir(), "lnc-e2e-")), listen: { host: "127.0.0.1", port: 0 }, healthAddr: null, metricsAddr: null, logger: silent });
  await server.start();
  const a = server.address();
  S = `${a.host}:${a.port}`;
});

afterAll(async () => {
  await server.stop();
});



const hasJq = spawnSync("jq", ["--version"]).status === 0;

describe("lnc remote commands against a real in-process server (built binary, real TCP)", () => {
  it("create-topic, then list-topics prints JSON with name fields when piped (no --json needed)", async () => {
    const created = await lnc(["create-topic", "--server", S, "--name", "orders"]);
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/Created topic orders \(id \d+\)/);
    const again = await lnc(["create-topic", "--server", S, "--name", "orders"]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/already exists/);
    const listed = await lnc(["list-topics", "--server", S]);
    expect(listed.code).toBe(0);
    const topics = JSON.parse(listed.out) as Array<{ name: string; id: number }>;
    expect(topics.map((t) => t.name)).toContain("orders");
  });

  it.skipIf(!hasJq)("the runbook's `lnc list-topics --server ... | jq -r '.[].name'` works", async () => {
    await lnc(["create-topic", "--server", S, "--name", "runbook-jq"]);
    const r = await sh(`"${process.execPath}" "${LNC}" list-topics --server ${S} | jq -r '.[].name'`);
    expect(r.code).toBe(0);
    expect(r.out.split("\n")).toContain("runbook-jq");
  });

  it("consume --offset @time starts at the first record produced at or after that time", async () => {
    await lnc(["create-topic", "--server", S, "--name", "timed"]);
    expect((await lnc(["produce", "--server", S, "--topic", "timed", "--data", "before"])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 30));
    const mark = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 30));
    expect((await lnc(["produce", "--server", S, "--topic", "timed"], "after-1\nafter-2\n")).code).toBe(0);
    const r = await lnc(["consume", "--server", S, "--topic", "timed", "--offset", `@${mark}`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split("\n")).toEqual(["after-1", "after-2"]);
    const bad = await lnc(["consume", "--server", S, "--topic", "timed", "--offset", "@not-a-time"]);
    expect(bad.code).toBe(2);
  });

  it("cluster-status reports a standalone node as its own healthy leader (runbook 5.1 step 1 on one node)", async () => {
    const r = await lnc(["cluster-status", "--server", S]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Node 0 at .* \(standalone\)\n  Role:\s+leader[\s\S]*Nodes:\s+1 of 1 reachable[\s\S]*✓ Cluster healthy/);
    const j = JSON.parse((await lnc(["cluster-status", "--server", S, "--json"])).out) as { isLeader: boolean; healthy: boolean; problems: string[] };
    expect(j).toMatchObject({ isLeader: true, healthy: true, problems: [] });
  });

  it("list-topics needs exactly one of --path and --server", async () => {
    const neither = await lnc(["list-topics"]);
    expect(neither.code).toBe(2);
    expect(neither.err).toMatch(/needs --path .* or --server/);
    const both = await lnc(["list-topics", "--path", tmpdir(), "--server", S]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/not both/);
  });

  it("produce from stdin lines, --data and --file; consume reads every record back in order with offsets", async () => {
    await lnc(["create-topic", "--server", S, "--name", "roundtrip"]);
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(i % 37)}`);
    const produced = await lnc(["produce", "--server", S, "--topic", "roundtrip"], lines.join("\n") + "\n");
    expect(produced.code).toBe(0);
    expect(produced.out).toMatch(/Produced 500 records to roundtrip/);
    expect((await lnc(["produce", "--server", S, "--topic", "roundtrip", "--data", "from --data"])).code).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), "lnc-e2e-in-")), "in.txt");
    writeFileSync(file, "f1\nf2\n");
    expect((await lnc(["produce", "--server", S, "--topic", "roundtrip", "--file", file])).code).toBe(0);

    const all = await lnc(["consume", "--server", S, "--topic", "roundtrip"]);
    expect(all.code).toBe(0);
    expect(all.out).toBe([...lines, "from --data", "f1", "f2"].join("\n") + "\n");

    const json = await lnc(["consume", "--server", S, "--topic", "roundtrip", "--offset", "499", "--max-records", "3", "--json"]);
    expect(json.out.trim().split("\n").map((l) => JSON.parse(l) as unknown)).toEqual([
      { type: "record", offset: 499, value: lines[499] },
      { type: "record", offset: 500, value: "from --data" },
      { type: "record", offset: 501, value: "f1" },
    ]);

    const info = await lnc(["topic-info", "--server", S, "--topic", "roundtrip", "--json"]);
    expect(JSON.parse(info.out)).toMatchObject({ name: "roundtrip", next_offset: 503 });
    const latest = await lnc(["consume", "--server", S, "--topic", "roundtrip", "--offset", "latest"]);
    expect(latest).toMatchObject({ code: 0, out: "" });
  });

  it("a named consumer commits its offset to a file and resumes from it", async () => {
    await lnc(["create-topic", "--server", S, "--name", "resume"]);
    await lnc(["produce", "--server", S, "--topic", "resume"], "a\nb\nc\nd\n");
    const dir = mkdtempSync(join(tmpdir(), "lnc-e2e-offsets-"));
    const args = ["consume", "--server", S, "--topic", "resume", "--consumer", "billing", "--offsets-dir", dir];
    expect((await lnc([...args, "--max-records", "3"])).out).toBe("a\nb\nc\n");
    const topicId = (JSON.parse((await lnc(["topic-info", "--server", S, "--topic", "resume", "--json"])).out) as { id: number }).id;
    expect(readFileSync(join(dir, "billing", `topic-${topicId}.offset`), "utf8")).toBe("3\n");
    expect((await lnc(args)).out).toBe("d\n");
  });

  it("consume --follow prints records produced later and stops cleanly on SIGINT", async () => {
    await lnc(["create-topic", "--server", S, "--name", "follow"]);
    const child = spawn(process.execPath, [LNC, "consume", "--server", S, "--topic", "follow", "--follow"]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("close", r));
    await new Promise((r) => setTimeout(r, 400));
    await lnc(["produce", "--server", S, "--topic", "follow", "--data", "late arrival"]);
    for (let i = 0; i < 50 && !out.includes("late arrival"); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(out).toBe("late arrival\n");
  });

  it("set-retention, topic arguments by id, delete-topic, and a clear error for a missing topic", async () => {
    const created = await lnc(["create-topic", "--server", S, "--name", "doomed", "--max-age-secs", "3600", "--json"]);
    const id = (JSON.parse(created.out) as { id: number }).id;
    const ret = await lnc(["set-retention", "--server", S, "--topic", String(id), "--max-age-secs", "0", "--max-bytes", "1048576"]);
    expect(ret.code).toBe(0);
    expect(ret.out).toContain("max age unlimited, max size 1048576 bytes");
    const del = await lnc(["delete-topic", "--server", S, "--topic", "doomed"]);
    expect(del.code).toBe(0);
    const gone = await lnc(["topic-info", "--server", S, "--topic", "doomed"]);
    expect(gone.code).toBe(2);
    expect(gone.err).toContain("LNC_CLIENT_TOPIC_NOT_FOUND");
  });

  it("a server that is not there is a clear connect error, exit 2", async () => {
    const r = await lnc(["list-topics", "--server", "127.0.0.1:1"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("LNC_CLIENT_CONNECT_FAILED");
  });

  it("bench runs, reports throughput and ack latency, exits 0 without errors", async () => {
    const r = await lnc(["bench", "--endpoint", S, "--topic-name", "bench-e2e", "--connections", "2", "--pipeline", "4", "--msg-size", "256", "--duration", "1", "--warmup", "0", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as { messages: number; errors: number; msgs_per_sec: number; ack_latency_ms: { p50: number; p99: number; p999: number } };
    expect(report.errors).toBe(0);
    expect(report.messages).toBeGreaterThan(0);
    expect(report.ack_latency_ms.p50).toBeGreaterThan(0);
    expect(report.ack_latency_ms.p999).toBeGreaterThanOrEqual(report.ack_latency_ms.p99);
    // Raw bench payloads: record_count = messages per batch, so the topic's end is the acked count (or more: sends after the window).
    const info = JSON.parse((await lnc(["topic-info", "--server", S, "--topic", "bench-e2e", "--json"])).out) as { next_offset: number };
    expect(info.next_offset).toBeGreaterThanOrEqual(report.messages);
  });

  it("bench exits 1 and names the error when the server refuses the writes (read_only)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lnc-e2e-ro-"));
    const writable = createServer({ dataDir, listen: { host: "127.0.0.1", port: 0 }, healthAddr: null, metricsAddr: null, logger: silent });
    await writable.start();
    const w = writable.address();
    await lnc(["create-topic", "--server", `${w.host}:${w.port}`, "--name", "bench-ro"]);
    await writable.stop();
    const readOnly = createServer({ dataDir, readOnly: true, listen: { host: "127.0.0.1", port: 0 }, healthAddr: null, metricsAddr: null, logger: silent });
    await readOnly.start();
    try {
      const a = readOnly.address();
      const r = await lnc(["bench", "-e", `${a.host}:${a.port}`, "-t", "bench-ro", "-c", "1", "-p", "2", "-d", "1", "-w", "0", "--report-interval", "0"]);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/Errors: +[1-9]/);
      expect(r.err).toContain("LNC_CLIENT_READ_ONLY");
    } finally {
      await readOnly.stop();
    }
  });
});
