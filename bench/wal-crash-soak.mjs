#!/usr/bin/env node
// WAL crash soak: a writer child appends with 64 appends in flight (plus the odd Raft
// truncation and checkpoint), reports each acknowledged index on stdout, and is SIGKILLed at a
// random moment; the parent reopens the WAL and checks that every acknowledged entry is present
// and intact and that nothing partial is visible. Repeats --iterations times on the same WAL.
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

const { values: args } = parseArgs({
  options: {
    iterations: { type: "string", default: "200" },
    "segment-size": { type: "string", default: String(256 * 1024) },
    dir: { type: "string" },
    seed: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
    child: { type: "boolean", default: false },
  },
  allowPositionals: true,
});

/** Content is a pure function of (index, term), so the parent can check it without a copy. */
function payload(index, term) {
  const size = index % 97 === 0 ? 9000 + (index % 5000) : 16 + ((index * 7919 + term) % 1500);
  const b = Buffer.alloc(size);
  for (let i = 16; i < size; i++) b[i] = (index * 31 + term * 17 + i) & 0xff;
  b.writeDoubleLE(index, 0);
  b.writeDoubleLE(term, 8);
  return b;
}

function lcg(seed) {
  let s = seed | 1;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

async function child() {
  const rand = lcg(Number(args.seed));
  const out = (line) => process.stdout.write(`${line}\n`); // synchronous for pipes on Linux
  const wal = await Wal.open(args.dir, { segmentSize: Number(args["segment-size"]), maxSpareFiles: 2 });
  let term = wal.lastTerm() + 1;
  out(`ready ${wal.lastIndex()} ${wal.lastTerm()}`);
  let inFlight = 0;
  let acked = 0;
  for (;;) {
    if (acked > 0 && rand() < 0.004) {
      while (inFlight > 0) await new Promise((r) => setImmediate(r));
      const k = Math.max(wal.checkpoint().index, wal.lastIndex() - Math.floor(rand() * 20));
      out(`trunc-begin ${k}`);
      await wal.truncateSuffix(k + 1);
      term++;
      out(`trunc-done ${k}`);
    }
    if (rand() < 0.01 && wal.durableIndex() > wal.checkpoint().index + 100) await wal.markCheckpoint(wal.durableIndex() - 50);
    while (inFlight < 64) {
      const index = wal.lastIndex() + 1;
      const t = term;
      inFlight++;
      wal.append({ index, term: t, type: index % 4, payload: payload(index, t) }).then(
        () => {
          inFlight--;
          acked++;
          out(`ack ${index} ${t}`);
        },
        (err) => {
          process.stderr.write(`append ${index} failed: ${err.stack}\n`);
          process.exit(2);
        },
      );
    }
    await new Promise((r) => setImmediate(r));
  }
}

function runChild(dir, seed, killAfterMs, early) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", "--dir", dir, "--seed", String(seed), "--segment-size", args["segment-size"]], {
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
  const acked = new Map();
  let pendingTrunc = null;
  let acks = 0;
  let torn = 0;
  let earlyKills = 0;
  const started = Date.now();
  for (let it = 0; it < iterations; it++) {
    const early = rand() < 0.15;
    if (early) earlyKills++;
    const run = await runChild(dir, it + 1, early ? Math.floor(rand() * 80) : 10 + Math.floor(rand() * 250), early);
    if (run.signal !== "SIGKILL") throw new Error(`writer exited on its own (code ${run.code}): ${run.stderr}`);
    const lines = run.stdout.split("\n");
    lines.pop();
    for (const line of lines) {
      const [what, a, b] = line.split(" ");
      if (what === "ack") {
        acked.set(Number(a), Number(b));
        acks++;
      } else if (what === "trunc-begin") pendingTrunc = Number(a);
      else if (what === "trunc-done") {
        for (const i of acked.keys()) if (i > Number(a)) acked.delete(i);
        pendingTrunc = null;
      }
    }
    const wal = await Wal.open(dir, { segmentSize: Number(args["segment-size"]) });
    if (wal.recovery.tornTail) torn++;
    const problems = [];
    const first = wal.firstIndex();
    const last = wal.lastIndex();
    const present = new Map();
    let prevTerm = 0;
    for (let lo = first; lo <= last; lo += 500) {
      for (const e of await wal.entries(lo, Math.min(last + 1, lo + 500))) {
        if (!Buffer.from(e.payload).equals(payload(e.index, e.term))) problems.push(`entry ${e.index} has wrong content`);
        if (e.term < prevTerm) problems.push(`term goes down at ${e.index}`);
        prevTerm = e.term;
        present.set(e.index, e.term);
      }
    }
    for (const [i, t] of acked) {
      if (i < first) {
        acked.delete(i);
        continue;
      }
      if (present.get(i) === t) continue;
      if (pendingTrunc !== null && i > pendingTrunc && !present.has(i)) {
        acked.delete(i);
        continue;
      }
      problems.push(`acknowledged entry ${i} (term ${t}) is ${present.has(i) ? `term ${present.get(i)}` : "missing"} (log ${first}..${last})`);
    }
    pendingTrunc = null;
    await wal.close();
    if (problems.length > 0) {
      console.error(`iteration ${it}: FAILED\n  ${problems.slice(0, 20).join("\n  ")}\nWAL kept in ${dir}`);
      process.exit(1);
    }
    if ((it + 1) % 25 === 0 || it + 1 === iterations) {
      console.log(`${it + 1}/${iterations} kills ok: ${acks} acks checked, log ${first}..${last}, torn tails cut ${torn}, kills before/at replay ${earlyKills}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }
  if (!args.keep && !args.dir) rmSync(dir, { recursive: true, force: true });
  console.log(`PASS: ${iterations} SIGKILLs, ${acks} acknowledged appends, every one present and intact`);
}

if (args.child) await child();
else await parent();
