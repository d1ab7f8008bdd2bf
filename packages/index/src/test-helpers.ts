import { afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTopicMetadata } from "@lance/segment-format";
import { TopicWriter, type TopicWriterOptions } from "./topic-writer.js";

export const T0 = 1_700_000_000_000_000_000n;

const created: string[] = [];
afterAll(() => {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A data dir with one topic written through TopicWriter: `batches` batches of `records` each. */
export function makeTopic(opts: { batches: number; payloadBytes?: number; records?: number; writer?: TopicWriterOptions; topic?: string }) {
  const dataDir = mkdtempSync(join(tmpdir(), "lance-index-"));
  created.push(dataDir);
  const topic = opts.topic ?? "orders";
  const dir = join(dataDir, "segments", topic);
  mkdirSync(dir, { recursive: true });
  writeTopicMetadata(dir, { id: 1, name: topic, created_at: 1_700_000_000, topic_epoch: 1, auth: null, retention: null });
  let t = T0;
  const clock = () => (t += 1_000_000n);
  const w = TopicWriter.open(dir, { clock, ...opts.writer });
  for (let i = 0; i < opts.batches; i++) {
    w.append({ payload: Buffer.alloc(opts.payloadBytes ?? 100, i % 251), recordCount: opts.records ?? 2, firstTimestampNs: T0 + BigInt(i) * 1_000_000n });
  }
  return { dataDir, dir, topic, writer: w, clock };
}
