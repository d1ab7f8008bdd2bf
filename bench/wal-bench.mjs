#!/usr/bin/env node
// WAL durable-append benchmark (issue 3): 1 KiB entries from 64 concurrent appenders through
// group commit, against (a) the ceiling: a plain write+fdatasync loop writing the same batch
// sizes the WAL produced, in the same run, same disk; and (b) the floor: one write+fdatasync
// per entry.
//
//   node bench/wal-bench.mjs [--seconds 5] [--appenders 64] [--entry-size 1024] [--dir DIR] [--json]
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

async function benchWal() {
  const wal = await Wal.open(join(root, "wal"), { segmentSize, groupCommitWindowMs: Number(args.window), maxSpareFiles: 2 });
  let acked = 0;
  let running = true;
  const latencies = [];
  const appender = async () => {
    while (running) {
      const index = wal.lastIndex() + 1;
      const t0 = performance.now();
      await wal.append({ index, term: 1, payload });
      latencies.push(performance.now() - t0);
      acked++;
      // Steady state: everything well behind the tail is applied elsewhere, so files recycle.
      if (acked % 20000 === 0) await wal.markCheckpoint(Math.max(wal.checkpoint().index, wal.durableIndex() - 10000));
    }
  };
  const started = performance.now();
  setTimeout(() => (running = false), seconds * 1000);
  await Promise.all(Array.from({ length: appenders }, appender));
  const elapsed = (performance.now() - started) / 1000;
  const io = wal.ioStats();
  await wal.close();
  latencies.sort((a, b) => a - b);
  return {
    appendsPerSec: acked / elapsed,
    mbPerSec: (acked * entrySize) / elapsed / 1e6,
    syncs: io.syncs,
    entriesPerSync: io.records / io.syncs,
    bytesPerWrite: io.bytes / io.writes,
    p50ms: latencies[Math.floor(latencies.length * 0.5)],
    p99ms: latencies[Math.floor(latencies.length * 0.99)],
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

const wal = await benchWal();
const perBatch = Math.max(1, Math.round(wal.entriesPerSync));
const ceiling = await benchRaw("ceiling.dat", perBatch);
const floor = await benchRaw("floor.dat", 1);
rmSync(root, { recursive: true, force: true });

const result = {
  config: { seconds, appenders, entrySize, segmentSize, groupCommitWindowMs: Number(args.window), dir: args.dir ?? tmpdir() },
  wal,
  ceiling: { ...ceiling, entriesPerBatch: perBatch },
  floor,
  walVsCeiling: wal.appendsPerSec / ceiling.appendsPerSec,
  walVsFloor: wal.appendsPerSec / floor.appendsPerSec,
};
if (args.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`WAL group commit  ${appenders} appenders x ${entrySize} B: ${f(wal.appendsPerSec)} appends/s, ${f(wal.mbPerSec, 1)} MB/s`);
  console.log(`                  ${f(wal.entriesPerSync, 1)} entries per fdatasync, ${f(wal.bytesPerWrite)} B per write, latency p50 ${f(wal.p50ms, 2)} ms p99 ${f(wal.p99ms, 2)} ms`);
  console.log(`ceiling           write+fdatasync of ${perBatch} entries: ${f(ceiling.appendsPerSec)} appends/s, ${f(ceiling.mbPerSec, 1)} MB/s`);
  console.log(`floor             write+fdatasync per entry: ${f(floor.appendsPerSec)} appends/s, ${f(floor.mbPerSec, 1)} MB/s`);
  console.log(`ratios            WAL/ceiling ${f(result.walVsCeiling, 2)} (goal >= 0.80), WAL/floor ${f(result.walVsFloor, 1)}x`);
}
