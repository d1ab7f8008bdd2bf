/**
 * Helpers for runbook.test.ts: run the runbook's command lines as written (through `sh`, with
 * `lnc` and `lance` as shell functions for the built binaries), write topics through a running
 * server, and read them back with `lnc consume --json`.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseTopicResponse } from "@lance/protocol";
import { LANCE, Wire } from "./test-lance.js";

export const LNC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "lnc", "dist", "main.js");

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** `lnc` and `lance` as the operator types them. */
const PRELUDE = `lnc() { "${process.execPath}" "${LNC}" "$@"; }\nlance() { "${process.execPath}" "${LANCE}" "$@"; }\n`;

/**
 * Runs one runbook command line through `sh -c`, after substituting the runbook's
 * placeholders (`/data/lance`, `/backup`, `<topic_name>`, `<segment>`, ...) with `subst`.
 * Returns the substituted line with the result so a failure names what was run.
 */
export function runbook(line: string, subst: Record<string, string>, cwd?: string): Promise<Run & { cmd: string }> {
  const cmd = substitute(line, subst);
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", PRELUDE + cmd], { stdio: ["ignore", "pipe", "pipe"], ...(cwd ? { cwd } : {}) });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err, cmd }));
  });
}

/** Longest keys first, so `/data/lance.backup` wins over `/data/lance`. */
export function substitute(line: string, subst: Record<string, string>): string {
  let s = line;
  for (const k of Object.keys(subst).sort((a, b) => b.length - a.length)) s = s.split(k).join(subst[k]!);
  return s;
}

/** True when `name` is on PATH (for the runbook's `jq`). */
export async function have(name: string): Promise<boolean> {
  return (await runbook(`command -v ${name} >/dev/null 2>&1`, {})).code === 0;
}

/** A fresh temp root with a data dir in it: `{root}/data/lance` stands for `/data/lance`. */
export function tempRoot(tag: string): { root: string; data: string } {
  const root = mkdtempSync(join(tmpdir(), `runbook-${tag}-`));
  const data = join(root, "data", "lance");
  mkdirSync(data, { recursive: true });
  return { root, data };
}

/** The segment files of a topic directory, oldest first (file names start with the base offset). */
export function segments(topicDir: string): string[] {
  return readdirSync(topicDir)
    .filter((f) => f.endsWith(".lnc"))
    .sort((a, b) => Number(a.split("_")[0]) - Number(b.split("_")[0]));
}

export function size(path: string): number {
  return statSync(path).size;
}

export async function createTopic(port: number, name: string): Promise<number> {
  const w = await Wire.open(port);
  try {
    const r = await w.request({ type: "createTopic", name });
    if (r.type !== "topicResponse") throw new Error(`createTopic ${name}: ${JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`);
    const body = parseTopicResponse(r.json);
    if (body.kind !== "topic") throw new Error(`createTopic ${name}: ${r.json}`);
    return body.topic.id;
  } finally {
    w.close();
  }
}

/** TLV framing as our Producer writes it (client framing.ts): `type u8 | length u32 LE | value`. */
function tlv(values: string[]): Buffer {
  return Buffer.concat(
    values.map((v) => {
      const b = Buffer.from(v);
      const h = Buffer.alloc(5);
      h[0] = 1;
      h.writeUInt32LE(b.length, 1);
      return Buffer.concat([h, b]);
    }),
  );
}

/** The value of the record at `offset` in topics these tests write. */
export const value = (topic: string, offset: number): string => `${topic}-${String(offset).padStart(6, "0")}`;

/**
 * Writes `batches` batches of `perBatch` records through the running server, one ingest at a
 * time (each acknowledged after its WAL fsync), records named by their offset when the topic
 * starts at `first`. Returns the acknowledged record values.
 */
export async function produce(port: number, topicId: number, topic: string, batches: number, perBatch: number, first = 0): Promise<string[]> {
  const w = await Wire.open(port);
  const acked: string[] = [];
  try {
    for (let b = 0; b < batches; b++) {
      const vals = Array.from({ length: perBatch }, (_, i) => value(topic, first + b * perBatch + i));
      const r = await w.request({ type: "ingest", batchId: BigInt(b + 1), timestampNs: 1_700_000_000_000_000_000n + BigInt(first + b * perBatch), recordCount: perBatch, topicId, payload: tlv(vals) });
      if (r.type !== "ack") throw new Error(`ingest ${b} not acked: ${r.type}`);
      acked.push(...vals);
    }
  } finally {
    w.close();
  }
  return acked;
}

export interface Consumed {
  records: Array<{ offset: number; value: string }>;
  gaps: Array<{ from: number; to: number; count: number }>;
  run: Run & { cmd: string };
}

/** `lnc consume --json` from the earliest offset to the end; records and gap lines. */
export async function consumeJson(port: number, topic: string): Promise<Consumed> {
  const run = await runbook(`lnc consume --server 127.0.0.1:${port} --topic ${topic} --offset earliest --json`, {});
  const records: Consumed["records"] = [];
  const gaps: Consumed["gaps"] = [];
  for (const line of run.out.split("\n")) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as { type: string; offset?: string | number; value?: string; from?: string | number; to?: string | number; count?: string | number };
    if (j.type === "record") records.push({ offset: Number(j.offset), value: String(j.value) });
    else if (j.type === "gap") gaps.push({ from: Number(j.from), to: Number(j.to), count: Number(j.count) });
  }
  return { records, gaps, run };
}
