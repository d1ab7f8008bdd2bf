#!/usr/bin/env node
// Hostile-client benchmark (issue 8): the built `lance` in its own process, with [auth] named
// tokens, per-topic ACLs and [limits]; a well-behaved client produces (one record per ingest,
// each ack awaited, a fetch of its newest record every 10th) through a baseline phase and then
// through rounds of the hostile suite's attack (random and mutated frames over many connections,
// slowloris, a connection flood, oversized frames, a reader that never reads), alternating.
// Reports the good client's ack latency p50/p99/p99.9 per phase and the p99 ratio, and checks
// that every acked record was stored and nothing else.
//
//   node bench/hostile-bench.mjs [--seconds 10] [--rounds 2] [--workers 8] [--frames 10000] [--dir /tmp] [--json]
//
// Build first: pnpm build (uses apps/lance/dist and packages/server/dist).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { GoodClient, percentile, produceWhile, readAll, runAttack } = await import(join(root, "packages/server/dist/hostile-attack.js"));
const LANCE = join(root, "apps/lance/dist/main.js");

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "2" },
    workers: { type: "string", default: "8" },
    frames: { type: "string", default: "10000" },
    dir: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const work = mkdtempSync(join(args.dir ?? tmpdir(), "lance-hostile-bench-"));

writeFileSync(
  join(work, "lance.toml"),
  `data_dir = "${join(work, "data")}"
listen_addr = "127.0.0.1:0"
log_level = "info"
[ingestion]
max_payload_size = 65536
[auth]
enabled = true
tokens = ["operator-token"]
[auth.named_tokens]
good = "good-token"
hostile = "hostile-token"
reader = "reader-token"
[[auth.acl]]
principal = "token:good"
topics = ["good"]
allow = ["read", "write", "admin"]
[[auth.acl]]
principal = "token:hostile"
topics = ["h-*"]
allow = ["read", "write", "admin"]
[[auth.acl]]
principal = "token:reader"
topics = ["r-data"]
allow = ["read"]
[limits]
max_connections = 48
max_connections_per_address = 48
first_frame_timeout_ms = 400
max_send_buffer_bytes = 2097152
send_stall_timeout_ms = 1000
`,
);

function startLance() {
  const proc = spawn(process.execPath, [LANCE, "--config", join(work, "lance.toml"), "--health", "off", "--metrics", "off"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    let buf = "";
    proc.stdout.on("data", (d) => {
      buf += d;
      for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) {
        try {
          const j = JSON.parse(buf.slice(0, i));
          if (j.msg === "lance ready") resolve({ proc, port: j.listen.port });
        } catch {
          /* not JSON */
        }
      }
    });
    proc.on("exit", (code) => reject(new Error(`lance exited with ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`lance not ready within 30 s: ${err}`)), 30_000).unref();
  });
}

const topicId = (m) => {
  if (m.type !== "topicResponse") throw new Error(`expected a topicResponse, got ${m.type}: ${m.message ?? ""}`);
  return JSON.parse(m.json).id;
};

const { proc, port } = await startLance();
try {
  const good = await GoodClient.connect(port);
  await good.request({ type: "authenticate", token: Buffer.from("good-token") });
  const goodTopic = topicId(await good.request({ type: "createTopic", name: "good" }));
  const setup = await GoodClient.connect(port);
  await setup.request({ type: "authenticate", token: Buffer.from("hostile-token") });
  const hTopic = topicId(await setup.request({ type: "createTopic", name: "h-data" }));
  await setup.request({ type: "authenticate", token: Buffer.from("operator-token") });
  const rTopic = topicId(await setup.request({ type: "createTopic", name: "r-data" }));
  for (let i = 0; i < 32; i++) await setup.request({ type: "ingest", topicId: rTopic, batchId: 1n, timestampNs: 1n, recordCount: 1, compressed: false, payload: Buffer.alloc(65536, i) });
  setup.close();

  const acked = [];
  const baseline = [];
  const attack = [];
  const attacks = [];
  // Warm-up (JIT, page cache, WAL files), not measured.
  await produceWhile(good, goodTopic, () => acked.length >= 500, { latencies: [], acked, fetches: 0 });
  let seed = 1;
  for (let r = 0; r < rounds; r++) {
    const base = { latencies: [], acked, fetches: 0 };
    const t0 = Date.now();
    await produceWhile(good, goodTopic, () => Date.now() - t0 > seconds * 1000, base);
    baseline.push(...base.latencies);

    const under = { latencies: [], acked, fetches: 0 };
    const t1 = Date.now();
    let over = false;
    const producing = produceWhile(good, goodTopic, () => over, under);
    while (Date.now() - t1 < seconds * 1000) {
      attacks.push(
        await runAttack({
          port, frames: Number(args.frames), workers: Number(args.workers), token: "hostile-token", topicIds: [goodTopic, hTopic, rTopic],
          readerTopicId: rTopic, readerFetches: 2000, readerToken: "reader-token", slowloris: 10, flood: 60, oversizeLength: 65537, seed: seed++,
        }),
      );
    }
    over = true;
    await producing;
    attack.push(...under.latencies);
  }

  const stored = await readAll(good, goodTopic);
  const intact = stored === acked.join("");
  good.close();
  const sum = (k) => attacks.reduce((n, a) => n + a[k], 0);
  const q = (xs, p) => Number(percentile(xs, p).toFixed(3));
  const result = {
    seconds_per_phase: seconds,
    rounds,
    baseline: { acks: baseline.length, p50_ms: q(baseline, 50), p99_ms: q(baseline, 99), p999_ms: q(baseline, 99.9) },
    under_attack: { acks: attack.length, p50_ms: q(attack, 50), p99_ms: q(attack, 99), p999_ms: q(attack, 99.9) },
    p99_ratio: Number((percentile(attack, 99) / percentile(baseline, 99)).toFixed(2)),
    attack: {
      rounds: attacks.length, frames: sum("framesSent"), oversized: sum("oversizedSent"), connections: sum("connections"), replies: sum("repliesReceived"),
      slowloris_closed: sum("slowlorisClosedByServer"), flood_opened: sum("floodOpened"), flood_closed: sum("floodClosedByServer"),
    },
    acked_records: acked.length,
    stored_matches_acked: intact,
  };
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`hostile bench: ${rounds} x (${seconds} s baseline, ${seconds} s under attack), lance in its own process`);
    console.log(`  attack: ${result.attack.frames} frames (${result.attack.oversized} oversized) over ${result.attack.connections} connections in ${result.attack.rounds} rounds; slowloris closed ${result.attack.slowloris_closed}; flood ${result.attack.flood_opened} opened / ${result.attack.flood_closed} closed by the server`);
    console.log(`  good client ack latency   baseline: p50 ${result.baseline.p50_ms} ms  p99 ${result.baseline.p99_ms} ms  p99.9 ${result.baseline.p999_ms} ms  (${result.baseline.acks} acks)`);
    console.log(`                        under attack: p50 ${result.under_attack.p50_ms} ms  p99 ${result.under_attack.p99_ms} ms  p99.9 ${result.under_attack.p999_ms} ms  (${result.under_attack.acks} acks)`);
    console.log(`  p99 ratio (attack / baseline): ${result.p99_ratio}`);
    console.log(`  ${acked.length} records acked; stored = acked, nothing else: ${intact}`);
  }
  if (!intact) process.exitCode = 1;
} finally {
  proc.kill("SIGTERM");
  await new Promise((r) => proc.once("exit", r));
  rmSync(work, { recursive: true, force: true });
}
