#!/usr/bin/env node
// Standalone server benchmark (issue 4): runs the built `lance` on a temp data dir and drives it
// with `lnc bench` (1 KiB messages, durable acks), then measures, in the same run, the disk
// ceiling (sequential 256 KiB writes + fdatasync each) and consume throughput from a warm
// page cache. Usage: node bench/server-bench.mjs [--duration 10] [--dir /tmp]
import { spawn, spawnSync } from "node:child_process";
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Consumer, LanceClient } from "@lance/client";

const { values } = parseArgs({ options: { duration: { type: "string", default: "10" }, dir: { type: "string", default: tmpdir() } } });
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const LANCE = join(root, "apps/lance/dist/main.js");
const LNC = join(root, "apps/lnc/dist/main.js");
const data = mkdtempSync(join(values.dir, "lance-server-bench-"));

function diskCeiling(seconds = 3) {
  const block = Buffer.alloc(256 * 1024, 7);
  const fd = openSync(join(data, "ceiling.bin"), "w");
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    writeSync(fd, block);
    fdatasyncSync(fd);
    bytes += block.length;
  }
  const secs = (performance.now() - t0) / 1000;
  closeSync(fd);
  rmSync(join(data, "ceiling.bin"));
  return { mbPerSec: bytes / secs / 1e6, msgPerSec1k: bytes / secs / 1024 };
}

const server = spawn(process.execPath, [LANCE, "--standalone", "--data-dir", data, "--listen", "127.0.0.1:0", "--health", "off", "--metrics", "off"], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise((resolve, reject) => {
  let buf = "";
  server.stdout.on("data", (d) => {
    buf += d.toString();
    const m = /"msg":"lance ready".*?"port":(\d+)/.exec(buf) ?? /"port":(\d+).*?"msg":"lance ready"/.exec(buf);
    if (m) {
      resolve(Number(m[1]));
      server.stdout.resume();
      buf = "";
    }
  });
  server.on("exit", (c) => reject(new Error(`lance exited ${c}`)));
});
const endpoint = `127.0.0.1:${port}`;

function bench(name, args) {
  const r = spawnSync(process.execPath, [LNC, "bench", "--endpoint", endpoint, "--msg-size", "1024", "--duration", values.duration, "--warmup", "2", "--report-interval", "0", "--json", ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${name}: lnc bench exited ${r.status}\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

const ceiling = diskCeiling();
const pipelined = bench("8 connections pipelined", ["--topic-name", "bench-8", "--connections", "8", "--pipeline", "64"]);
const single = bench("1 connection, 1 in flight", ["--topic-name", "bench-1", "--connections", "1", "--pipeline", "1", "--max-in-flight", "1"]);

// Consume everything bench-8 wrote, twice (the first pass warms the page cache).
async function consumeAll() {
  const client = new LanceClient({ server: endpoint });
  const topics = await client.call((c) => c.topicCommand({ type: "listTopics" }));
  const id = topics.topics.find((t) => t.name === "bench-8").id;
  const t0 = performance.now();
  let bytes = 0;
  for await (const e of new Consumer(client, { topicId: id, start: "earliest", framing: "raw", maxFetchBytes: 8 * 1024 * 1024 })) {
    if (e.kind === "record") bytes += e.value.byteLength;
  }
  client.close();
  return { bytes, secs: (performance.now() - t0) / 1000 };
}
await consumeAll();
const consumed = await consumeAll();
server.kill("SIGTERM");
await new Promise((r) => server.on("exit", r));
rmSync(data, { recursive: true, force: true });

const fmt = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d });
console.log(`disk ceiling (256 KiB write + fdatasync): ${fmt(ceiling.mbPerSec)} MB/s = ${fmt(ceiling.msgPerSec1k)} 1 KiB msg/s`);
for (const [name, r] of [["8 connections x 64 pipelined", pipelined], ["1 connection, 1 in flight", single]]) {
  console.log(
    `${name}: ${fmt(r.msgs_per_sec)} msg/s, ${fmt(r.mb_per_sec, 1)} MB/s (${((r.mb_per_sec / ceiling.mbPerSec) * 100).toFixed(0)}% of the disk ceiling), ` +
      `ack latency p50 ${r.ack_latency_ms.p50.toFixed(2)} ms, p99 ${r.ack_latency_ms.p99.toFixed(2)} ms, p999 ${r.ack_latency_ms.p999.toFixed(2)} ms, errors ${r.errors}`,
  );
}
console.log(`consume (warm page cache, 8 MiB fetches): ${fmt(consumed.bytes / consumed.secs / 1e6)} MB/s (${fmt(consumed.bytes / 1e6)} MB in ${consumed.secs.toFixed(2)} s)`);
