#!/usr/bin/env node
// Segment append throughput (1 KiB records) against plain sequential fs writes of the same
// bytes, and verify-data throughput, measured in the same run. Usage:
//   node bench/segment-bench.mjs [--mib 256] [--rounds 5] [--dir /tmp]
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execSync } from "node:child_process";
import { SegmentWriter, encodeBatch, writeTopicMetadata } from "@lance/segment-format";
import { TopicWriter, verifyTopic } from "@lance/index";

const { values } = parseArgs({ options: { mib: { type: "string", default: "256" }, rounds: { type: "string", default: "5" }, dir: { type: "string", default: tmpdir() } } });
const totalBytes = Number(values.mib) * 1024 * 1024;
const rounds = Number(values.rounds);
const RECORD = 1024;
const records = Math.floor(totalBytes / RECORD);
const payloads = Array.from({ length: 64 }, (_, i) => Buffer.alloc(RECORD, i));
const T0 = 1_700_000_000_000_000_000n;
const root = mkdtempSync(join(values.dir, "lance-bench-"));

function time(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Ceiling: the exact bytes a segment would hold, pre-encoded, written in 1 MiB chunks. */
function plainWrite(dir) {
  const chunk = Buffer.alloc(1024 * 1024);
  let used = 0;
  const batchSize = 40 + RECORD;
  const encoded = payloads.map((p, i) => encodeBatch(i, { payload: p, recordCount: 1, firstTimestampNs: T0 }));
  const fd = openSync(join(dir, "plain.bin"), "w");
  for (let i = 0; i < records; i++) {
    if (used + batchSize > chunk.length) {
      writeSync(fd, chunk, 0, used);
      used = 0;
    }
    chunk.set(encoded[i % 64], used);
    used += batchSize;
  }
  writeSync(fd, chunk, 0, used);
  fsyncSync(fd);
  closeSync(fd);
}

function segmentWrite(dir) {
  const w = SegmentWriter.create(dir, 0, T0, { maxSegmentBytes: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < records; i++) w.append({ payload: payloads[i % 64], recordCount: 1, firstTimestampNs: T0 });
  w.sync();
  w.release();
}

function topicWrite(dir) {
  const w = TopicWriter.open(dir, { maxSegmentBytes: 64 * 1024 * 1024 });
  for (let i = 0; i < records; i++) w.append({ payload: payloads[i % 64], recordCount: 1, firstTimestampNs: T0 });
  w.close();
}

const results = { plain: [], segment: [], topic: [], verify: [] };
let verifyBytes = 0;
const runs = [["plain", plainWrite], ["segment", segmentWrite], ["topic", topicWrite]];
for (let r = 0; r < rounds; r++) {
  // Rotate the order each round, and flush the page cache's dirty pages before each run, so
  // no run pays for the previous one's writeback.
  for (const [name, fn] of [...runs.slice(r % 3), ...runs.slice(0, r % 3)]) {
    execSync("sync");
    const dir = join(root, `${name}-${r}`, "segments", "bench");
    mkdirSync(dir, { recursive: true });
    if (name === "topic") writeTopicMetadata(dir, { id: 1, name: "bench", created_at: 0, topic_epoch: 1, auth: null, retention: null });
    results[name].push(time(() => fn(dir)));
    if (name === "topic") {
      let report;
      results.verify.push(time(() => (report = verifyTopic(dir))));
      if (!report.ok) throw new Error("verify failed on freshly written data");
      verifyBytes = report.totals.bytes;
    }
    if (name !== "topic" || r < rounds - 1) rmSync(join(root, `${name}-${r}`), { recursive: true });
  }
}
rmSync(root, { recursive: true });

const bytes = records * (40 + RECORD);
const mbps = (s) => (bytes / s / 1e6).toFixed(0);
const plain = median(results.plain);
const seg = median(results.segment);
const topic = median(results.topic);
const verify = median(results.verify);
console.log(`records: ${records} x ${RECORD} B (${(bytes / 2 ** 20).toFixed(0)} MiB on disk), rounds: ${rounds}, medians`);
console.log(`plain sequential write (pre-encoded, 1 MiB writes + fsync): ${mbps(plain)} MB/s  ${(records / plain / 1e3).toFixed(0)}k rec/s`);
console.log(`SegmentWriter.append (encode + CRC32C + write + fsync):     ${mbps(seg)} MB/s  ${(records / seg / 1e3).toFixed(0)}k rec/s  ratio ${(plain / seg).toFixed(2)}x of plain`);
console.log(`TopicWriter.append (+ rotation every 64 MiB, .idx, catalog): ${mbps(topic)} MB/s  ${(records / topic / 1e3).toFixed(0)}k rec/s  ratio ${(plain / topic).toFixed(2)}x of plain`);
console.log(`verifyTopic (every batch CRC, indexes, catalog; warm cache): ${(verifyBytes / verify / 1e6).toFixed(0)} MB/s  (${(verifyBytes / 2 ** 20).toFixed(0)} MiB in ${verify.toFixed(2)} s)`);
