#!/usr/bin/env node
// WAL durable-append benchmark (issue 3): 1 KiB entries from 64 concurrent appenders through
// group commit, against (a) the ceiling: a plain write+fdatasync loop writing the same batch
// sizes the WAL produced, in the same run, same disk; and (b) the floor: one write+fdatasync
// per entry.
//
//   node bench/wal-bench.mjs [--seconds 5] [--rounds 3] [--appenders 64] [--entry-size 1024] [--dir DIR] [--json]
//
// Build first: pnpm --filter @lance/wal build
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Wal, frameSize } from "@lance/wal";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    appenders: { type: "string", default: "64" },
    "entry-size": { type: "string", default: "1024" },
    "segment-size": { type: "string", default: String(64 * 1024 * 1024) },
    window: { type: "string", default: "0" },
    dir: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const seconds = Number(args.seconds);
const appenders = Number(args.appenders);
const entrySize = Number(args["entry-size"]);
const segmentSize = Number(args["segment-size"]);
const root = mkdtempSync(join(args.dir ?? tmpdir(), "lance-wal-bench-"));
const payload = Buffer.alloc(entrySize, 0x5a);
const frameBytes = frameSize(entrySize);

/**
 * The WAL with `appenders` closed-loop appenders. It is opened and warmed up once (until files
 * recycle, as the ceiling's file is preallocated before its clock starts); `measure()` then runs
 * the appenders for `seconds` and pauses them again, so WAL and ceiling phases can alternate.
 */
async function openWalBench() {
  const wal = await Wal.open(join(root, "wal"), { segmentSize, groupCommitWindowMs: Number(args.window), maxSpareFiles: 2 });
  let running = true;
  let gate = null;
  let acked = 0;
  let latencies = [];
  const appender = async () => {
    while (running) {
      if (gate) await gate.promise;
      const index = wal.lastIndex() + 1;
      const t0 = performance.now();
      await wal.append({ index, term: 1, payload });
      latencies.push(performance.now() - t0);
      acked++;
      // Steady state: everything well behind the tail is applied elsewhere, so files recycle.
      if (index % 20000 === 0) await wal.markCheckpoint(Math.max(wal.checkpoint().index, wal.durableIndex() - 10000));
    }
  };
  const pause = () => {
    let release;
    const promise = new Promise((r) => (release = r));
    gate = { promise, release };
  };
  const workers = Array.from({ length: appenders }, appender);
  const warmEntries = Math.ceil((3 * segmentSize) / frameBytes);
  while (wal.durableIndex() < warmEntries) await new Promise((r) => setTimeout(r, 20));
  pause();
  await wal.sync();
  return {
    async measure() {
      acked = 0;
      latencies = [];
      const io0 = wal.ioStats();
      const started = performance.now();
      gate.release();
      gate = null;
      await new Promise((r) => setTimeout(r, seconds * 1000));
      pause();
      await wal.sync();
      const elapsed = (performance.now() - started) / 1000;
      const io1 = wal.ioStats();
      latencies.sort((x, y) => x - y);
      const syncs = io1.syncs - io0.syncs;
      return {
        appendsPerSec: acked / elapsed,
        mbPerSec: (acked * entrySize) / elapsed / 1e6,
        entriesPerSync: (io1.records - io0.records) / syncs,
        bytesPerWrite: (io1.bytes - io0.bytes) / (io1.writes - io0.writes),
        p50ms: latencies[Math.floor(latencies.length * 0.5)],
        p99ms: latencies[Math.floor(latencies.length * 0.99)],
      };
    },
    async close() {
      running = false;
      gate?.release();
      await Promise.all(workers);
      await wal.close();
    },
  };
}

/** write(batch) + fdatasync in a loop over a preallocated file, `entriesPerBatch` entries per write. */
async function benchRaw(name, entriesPerBatch) {
  const path = join(root, name);
  const h = await open(path, "w+");
  const size = segmentSize;
  const zeros = Buffer.alloc(1024 * 1024);
  for (let at = 0; at < size; at += zeros.length) await h.write(zeros, 0, Math.min(zeros.length, size - at), at);
  await h.sync();
  const batch = Buffer.alloc(entriesPerBatch * frameBytes, 0x5a);
  let pos = 0;
  let entries = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    if (pos + batch.length > size) pos = 0;
    await h.write(batch, 0, batch.length, pos);
    await h.datasync();
    pos += batch.length;
    entries += entriesPerBatch;
  }
  const elapsed = (performance.now() - started) / 1000;
  await h.close();
  return { appendsPerSec: entries / elapsed, mbPerSec: (entries * entrySize) / elapsed / 1e6 };
}

const rounds = Number(args.rounds);
const bench = await openWalBench();
const runs = [];
for (let r = 0; r < rounds; r++) {
  // Alternate WAL and raw phases so drift in a shared disk's speed hits both alike.
  const wal = await bench.measure();
  const perBatch = Math.max(1, Math.round(wal.entriesPerSync));
  const ceiling = await benchRaw("ceiling.dat", perBatch);
  const floor = await benchRaw("floor.dat", 1);
  runs.push({ wal, ceiling: { ...ceiling, entriesPerBatch: perBatch }, floor, walVsCeiling: wal.appendsPerSec / ceiling.appendsPerSec, walVsFloor: wal.appendsPerSec / floor.appendsPerSec });
}
await bench.close();
rmSync(root, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {
  config: { seconds, rounds, appenders, entrySize, segmentSize, groupCommitWindowMs: Number(args.window), dir: args.dir ?? tmpdir() },
  rounds: runs,
  median: {
    walAppendsPerSec: median(runs.map((r) => r.wal.appendsPerSec)),
    walMbPerSec: median(runs.map((r) => r.wal.mbPerSec)),
    ceilingAppendsPerSec: median(runs.map((r) => r.ceiling.appendsPerSec)),
    floorAppendsPerSec: median(runs.map((r) => r.floor.appendsPerSec)),
    walVsCeiling: median(runs.map((r) => r.walVsCeiling)),
    walVsFloor: median(runs.map((r) => r.walVsFloor)),
  },
};
if (args.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  runs.forEach((r, i) => {
    console.log(`round ${i + 1}`);
    console.log(`  WAL group commit  ${appenders} appenders x ${entrySize} B: ${f(r.wal.appendsPerSec)} appends/s, ${f(r.wal.mbPerSec, 1)} MB/s`);
    console.log(`                    ${f(r.wal.entriesPerSync, 1)} entries per fdatasync, ${f(r.wal.bytesPerWrite)} B per write, latency p50 ${f(r.wal.p50ms, 2)} ms p99 ${f(r.wal.p99ms, 2)} ms`);
    console.log(`  ceiling           write+fdatasync of ${r.ceiling.entriesPerBatch} entries: ${f(r.ceiling.appendsPerSec)} appends/s, ${f(r.ceiling.mbPerSec, 1)} MB/s`);
    console.log(`  floor             write+fdatasync per entry: ${f(r.floor.appendsPerSec)} appends/s, ${f(r.floor.mbPerSec, 1)} MB/s`);
    console.log(`  ratios            WAL/ceiling ${f(r.walVsCeiling, 2)}, WAL/floor ${f(r.walVsFloor, 1)}x`);
  });
  const m = result.median;
  console.log(`median of ${rounds}: WAL ${f(m.walAppendsPerSec)} appends/s (${f(m.walMbPerSec, 1)} MB/s), ceiling ${f(m.ceilingAppendsPerSec)}/s, floor ${f(m.floorAppendsPerSec)}/s`);
  console.log(`                WAL/ceiling ${f(m.walVsCeiling, 2)} (goal >= 0.80), WAL/floor ${f(m.walVsFloor, 1)}x`);
}
