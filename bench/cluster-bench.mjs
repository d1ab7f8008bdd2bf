#!/usr/bin/env node
// Cluster benchmark (issue 6): in one run, on this machine, the built `lance` as a standalone
// node, as a 3-node L3 cluster and as a 3-node L1 cluster (all processes on the same cores, on
// loopback), each driven by `lnc bench` against the leader with the same message size and
// concurrency. Reports msg/s and ack latency, and the ratios L3/standalone and L1/L3.
// Usage: node bench/cluster-bench.mjs [--duration 10] [--msg-size 1024] [--connections 8]
//        [--pipeline 64] [--single] [--repeat 1] [--dir /tmp]      (after `pnpm build`)
// --single adds a 1 connection, 1 in flight profile (latency of one write at a time).
// --repeat N runs the three setups N times, interleaved, and reports medians (a shared machine
// is noisy: single runs of the same setup have differed by 2x here).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Connection } from "@lance/client";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    "msg-size": { type: "string", default: "1024" },
    connections: { type: "string", default: "8" },
    pipeline: { type: "string", default: "64" },
    single: { type: "boolean", default: false },
    repeat: { type: "string", default: "1" },
    dir: { type: "string", default: tmpdir() },
  },
});
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const LANCE = join(root, "apps/lance/dist/main.js");
const LNC = join(root, "apps/lnc/dist/main.js");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startProcess(args) {
  const proc = spawn(process.execPath, [LANCE, "--health", "off", "--metrics", "off", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((r) => proc.on("exit", (code, signal) => r(code ?? signal)));
  /** The last log lines (shown when a node does not stop). */
  const tail = [];
  let buf = "";
  const ready = new Promise((resolve, reject) => {
    proc.stdout.on("data", (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (line.includes('"msg":"lance ready"')) resolve();
      }
    });
    exited.then((c) => reject(new Error(`lance exited ${c} before it was ready`)));
  });
  return { proc, exited, ready, tail };
}

/** Starts `n` nodes (1: standalone); returns the leader's client address and a stop function. */
async function startSetup(n, mode) {
  const dataRoot = mkdtempSync(join(values.dir, "lance-cluster-bench-"));
  const nodes = [];
  for (let id = 1; id <= n; id++) nodes.push({ id, client: await freePort(), repl: await freePort() });
  const peers = nodes.map((p) => `${p.id}@127.0.0.1:${p.repl}`).join(",");
  const procs = nodes.map((node) =>
    startProcess(
      n === 1
        ? ["--standalone", "--data-dir", join(dataRoot, "n1"), "--listen", `127.0.0.1:${node.client}`]
        : [
            "--node-id", String(node.id),
            "--peers", peers,
            "--replication-addr", `127.0.0.1:${node.repl}`,
            "--listen", `127.0.0.1:${node.client}`,
            "--data-dir", join(dataRoot, `n${node.id}`),
            "--replication-mode", mode,
          ],
    ),
  );
  await Promise.all(procs.map((p) => p.ready));
  const stop = async () => {
    for (const p of procs) p.proc.kill("SIGTERM");
    await Promise.all(
      procs.map(async (p, i) => {
        // SIGTERM drains for at most 25 s; a node still running later is reported and killed.
        const t = setTimeout(() => {
          console.error(`warning: node ${nodes[i].id} (${n === 1 ? "standalone" : mode}, pid ${p.proc.pid}) still running 30 s after SIGTERM; SIGKILL. Its last log lines:\n  ${p.tail.slice(-8).join("\n  ")}`);
          p.proc.kill("SIGKILL");
        }, 30_000);
        await p.exited;
        clearTimeout(t);
      }),
    );
    rmSync(dataRoot, { recursive: true, force: true });
  };
  if (n === 1) return { endpoint: `127.0.0.1:${nodes[0].client}`, stop };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    for (const node of nodes) {
      try {
        const conn = await Connection.connect(`127.0.0.1:${node.client}`, { connectTimeoutMs: 500, requestTimeoutMs: 500 });
        const s = await conn.clusterStatus().finally(() => conn.close());
        if (s.isLeader && s.raft?.role === "leader") return { endpoint: `127.0.0.1:${node.client}`, stop };
      } catch {
        /* not up yet */
      }
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`no leader among ${n} nodes`);
}

function bench(endpoint, name, args) {
  const r = spawnSync(
    process.execPath,
    [LNC, "bench", "--endpoint", endpoint, "--msg-size", values["msg-size"], "--duration", values.duration, "--warmup", "2", "--report-interval", "0", "--json", ...args],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`${name}: lnc bench exited ${r.status}\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

const profiles = [[`${values.connections} connections x ${values.pipeline} pipelined`, ["--topic-name", "bench-n", "--connections", values.connections, "--pipeline", values.pipeline]]];
if (values.single) profiles.push(["1 connection, 1 in flight", ["--topic-name", "bench-1", "--connections", "1", "--pipeline", "1", "--max-in-flight", "1"]]);

const setups = [
  ["standalone", 1, "l3"],
  ["3-node L3", 3, "l3"],
  ["3-node L1", 3, "l1"],
];
const repeat = Math.max(1, Number(values.repeat));
/** results[name][profile] = one report per repetition */
const runs = Object.fromEntries(setups.map(([name]) => [name, profiles.map(() => [])]));
for (let r = 0; r < repeat; r++) {
  for (const [name, n, mode] of setups) {
    const { endpoint, stop } = await startSetup(n, mode);
    try {
      profiles.forEach(([profile, args], i) => runs[name][i].push(bench(endpoint, `${name} ${profile}`, args)));
    } finally {
      await stop();
    }
  }
}
const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Per setup and profile: medians over the repetitions. */
const results = Object.fromEntries(
  setups.map(([name]) => [
    name,
    runs[name].map((reps) => ({
      msgs_per_sec: med(reps.map((x) => x.msgs_per_sec)),
      mb_per_sec: med(reps.map((x) => x.mb_per_sec)),
      ack_latency_ms: { p50: med(reps.map((x) => x.ack_latency_ms.p50)), p99: med(reps.map((x) => x.ack_latency_ms.p99)) },
      errors: reps.reduce((a, x) => a + x.errors, 0),
      all: reps.map((x) => Math.round(x.msgs_per_sec)),
    })),
  ]),
);

const fmt = (x, d = 0) => x.toLocaleString("en-US", { maximumFractionDigits: d });
console.log(
  `cluster bench: ${values["msg-size"]} B messages, ${values.duration} s measured (+2 s warmup) per run, ${repeat} run(s) per setup${repeat > 1 ? " (medians)" : ""}, all nodes on this machine (loopback)`,
);
profiles.forEach(([profile], i) => {
  console.log(`\n${profile}:`);
  for (const [name] of setups) {
    const r = results[name][i];
    console.log(
      `  ${name.padEnd(11)} ${fmt(r.msgs_per_sec).padStart(8)} msg/s  ${fmt(r.mb_per_sec, 1).padStart(6)} MB/s  ack p50 ${r.ack_latency_ms.p50.toFixed(2)} ms  p99 ${r.ack_latency_ms.p99.toFixed(2)} ms  errors ${r.errors}${repeat > 1 ? `  (runs: ${r.all.join(", ")} msg/s)` : ""}`,
    );
  }
  const s = results["standalone"][i].msgs_per_sec;
  const l3 = results["3-node L3"][i].msgs_per_sec;
  const l1 = results["3-node L1"][i].msgs_per_sec;
  console.log(`  ratio L3/standalone ${(l3 / s).toFixed(2)}x (goal >= 0.4x), L1/L3 ${(l1 / l3).toFixed(2)}x`);
});
