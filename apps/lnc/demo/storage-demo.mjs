#!/usr/bin/env node
// Walks the runbook's offline storage commands on a real topic: write, verify, damage,
// repair, lose indexes, rebuild, inspect. Data goes to $LANCE_DATA_DIR or ./data.
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, rmSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TopicWriter } from "@lance/index";
import { nowNs, writeTopicMetadata } from "@lance/segment-format";

const LNC = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");
const data = resolve(process.env.LANCE_DATA_DIR ?? "data");
const topic = "demo-orders";
const dir = join(data, "segments", topic);

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
writeTopicMetadata(dir, { id: 1, name: topic, created_at: Math.floor(Date.now() / 1000), topic_epoch: 1, auth: null, retention: null });
const writer = TopicWriter.open(dir, { maxSegmentBytes: 64 * 1024 });
for (let i = 0; i < 2000; i++) {
  const record = Buffer.from(JSON.stringify({ order: i, item: `sku-${i % 97}`, qty: 1 + (i % 5) }));
  writer.append({ payload: record, recordCount: 1, firstTimestampNs: nowNs() });
}
writer.close();
console.log(`wrote 2000 records to ${dir}\n`);

const lnc = (...args) => {
  console.log(`$ lnc ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [LNC, ...args], { encoding: "utf8" });
  process.stdout.write(r.stdout + r.stderr);
  console.log(`(exit ${r.status})\n`);
  return r.status;
};
const segments = () => readdirSync(dir).filter((f) => f.endsWith(".lnc")).sort((a, b) => parseInt(a) - parseInt(b));

lnc("list-topics", "--path", data);
lnc("verify-data", "--path", data, "--topic", topic);
const active = join(dir, segments().at(-1));
lnc("scan", "--path", active, "--limit", "5");

console.log("# a crash leaves half a batch at the end of the active segment");
appendFileSync(active, Buffer.from([0x40, 0x00, 0x00, 0x00, 0xde, 0xad]));
lnc("verify-data", "--path", data, "--topic", topic);
lnc("repair", "--path", active, "--dry-run");
lnc("repair", "--path", active);

console.log("# the index files are lost");
for (const f of readdirSync(dir).filter((f) => f.endsWith(".idx"))) unlinkSync(join(dir, f));
lnc("rebuild-index", "--path", dir);
lnc("inspect-index", "--path", join(dir, "index.idx"));
const ok = lnc("verify-data", "--path", data, "--topic", topic);
process.exit(ok);
