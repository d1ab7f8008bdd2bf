#!/usr/bin/env node
// WAL crash soak, the long version of packages/wal/src/crash.test.ts: a writer child appends
// with 64 appends in flight (plus the odd Raft truncation and checkpoint), reports each
// acknowledged index on stdout, and is SIGKILLed at a random moment; the parent reopens the WAL
// and checks that every acknowledged entry is present and intact and that nothing partial is
// visible. Repeats --iterations times on the same WAL.
//
//   node bench/wal-crash-soak.mjs --iterations 500 [--segment-size 262144] [--dir DIR] [--seed N]
//
// Build first: pnpm --filter @lance/wal build
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Wal } from "@lance/wal";

// The writer child and the model are the crash test's own (packages/wal/fixtures).
const FIXTURES = new URL("../packages/wal/fixtures/", import.meta.url);
const WRITER = fileURLToPath(new URL("crash-writer.mjs", FIXTURES));
const { AckModel } = await import(new URL("crash-model.mjs", FIXTURES).href);

const { values: args } = parseArgs({
  options: {
    iterations: { type: "string", default: "200" },
    "segment-size": { type: "string", default: String(256 * 1024) },
    dir: { type: "string" },
    seed: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
  },
  allowPositionals: true,
});

function lcg(seed) {
  let s = seed | 1;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

function runChild(dir, seed, killAfterMs, early) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [WRITER, dir, args["segment-size"], String(seed)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let armed = false;
    const arm = () => {
      if (armed) return;
      armed = true;
      setTimeout(() => c.kill("SIGKILL"), killAfterMs);
    };
    if (early) arm();
    c.stdout.on("data", (d) => {
      stdout += d;
      if (stdout.startsWith("ready")) arm();
    });
    c.stderr.on("data", (d) => (stderr += d));
    c.on("error", reject);
    c.on("close", (code, signal) => resolve({ stdout, stderr, code, signal }));
  });
}

async function parent() {
  const iterations = Number(args.iterations);
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), "lance-wal-soak-"));
  const rand = lcg(Number(args.seed));
  const model = new AckModel();
  let torn = 0;
  let earlyKills = 0;
  const started = Date.now();
  for (let it = 0; it < iterations; it++) {
    const early = rand() < 0.15;
    if (early) earlyKills++;
    const run = await runChild(dir, it + 1, early ? Math.floor(rand() * 80) : 10 + Math.floor(rand() * 250), early);
    if (run.signal !== "SIGKILL") throw new Error(`writer exited on its own (code ${run.code}): ${run.stderr}`);
    model.feed(run.stdout);
    const wal = await Wal.open(dir, { segmentSize: Number(args["segment-size"]) });
    if (wal.recovery.tornTail) torn++;
    const problems = await model.check(wal);
    const first = wal.firstIndex();
    const last = wal.lastIndex();
    await wal.close();
    if (problems.length > 0) {
      console.error(`iteration ${it}: FAILED\n  ${problems.slice(0, 20).join("\n  ")}\nWAL kept in ${dir}`);
      process.exit(1);
    }
    if ((it + 1) % 25 === 0 || it + 1 === iterations) {
      console.log(`${it + 1}/${iterations} kills ok: ${model.ackCount} acks checked, log ${first}..${last}, torn tails cut ${torn}, kills before/at replay ${earlyKills}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }
  if (!args.keep && !args.dir) rmSync(dir, { recursive: true, force: true });
  console.log(`PASS: ${iterations} SIGKILLs, ${model.ackCount} acknowledged appends, every one present and intact`);
}

await parent();
