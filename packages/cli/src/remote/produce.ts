import { createReadStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Producer } from "@lance/client";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { withClient, type RemoteOptions } from "./session.js";

export interface ProduceOptions extends RemoteOptions {
  topic: string;
  /** One record with this text. */
  data?: string;
  /** Read records from this file, one per line. */
  file?: string;
  /** Where lines come from when neither `data` nor `file` is given (the binary passes stdin). */
  stdin?: Readable;
  /**
   * Send the whole input (data, file or stdin) as ONE opaque ingest (`record_count` 1), without
   * record framing, like upstream `lnc ingest`. Consume it with `--raw`.
   */
  raw?: boolean;
  lingerMs?: number;
  batchBytes?: number;
  json?: boolean;
}

/**
 * `lnc produce`: every non-empty input line (or `--data`) is one record, TLV-framed and
 * batched by the Producer; the command waits for every ack. Exit 1 if any record failed.
 */
export async function runProduce(opts: ProduceOptions, io: CommandIO): Promise<number> {
  const started = performance.now();
  const result = await withClient(opts, async (client, admin) => {
    const topic = await admin.resolveTopic(opts.topic);
    const producer = new Producer(client, { topicId: topic.id, lingerMs: opts.lingerMs ?? 5, batchMaxBytes: opts.batchBytes ?? 256 * 1024 });
    let sent = 0;
    let failed = 0;
    let firstError: unknown = null;
    const track = (p: Promise<void>) => {
      sent++;
      p.catch((err: unknown) => {
        failed++;
        firstError ??= err;
      });
    };
    if (opts.raw) {
      track(producer.sendPayload(await wholeInput(opts), 1));
    } else if (opts.data !== undefined) {
      track(producer.send(opts.data));
    } else {
      for await (const line of inputLines(opts)) {
        if (line === "") continue;
        await producer.ready();
        track(producer.send(line));
      }
    }
    await producer.close();
    return { topic, sent, failed, firstError, stats: producer.stats };
  });
  const seconds = (performance.now() - started) / 1000;
  const ok = result.sent - result.failed;
  if (opts.json) {
    io.out(JSON.stringify({ topic: result.topic.name, topic_id: result.topic.id, records: ok, failed: result.failed, batches: result.stats.batchesAcked }));
  } else {
    io.out(`Produced ${ok} record${ok === 1 ? "" : "s"} to ${result.topic.name} (id ${result.topic.id}) in ${result.stats.batchesAcked} batch${result.stats.batchesAcked === 1 ? "" : "es"}, ${seconds.toFixed(2)} s`);
  }
  if (result.failed > 0) {
    const e = result.firstError as { message?: string; code?: string };
    io.err(`Error: ${result.failed} of ${result.sent} records were not acknowledged: ${e.message ?? String(e)}${e.code ? ` [${e.code}]` : ""}`);
    return EXIT_PROBLEM;
  }
  return EXIT_OK;
}

function inputLines(opts: ProduceOptions): AsyncIterable<string> {
  const input = opts.file !== undefined ? createReadStream(opts.file) : opts.stdin;
  if (!input) throw new RangeError("produce needs --data <string>, --file <path>, or lines on stdin");
  return createInterface({ input, crlfDelay: Infinity });
}

async function wholeInput(opts: ProduceOptions): Promise<Uint8Array> {
  if (opts.data !== undefined) return new TextEncoder().encode(opts.data);
  if (opts.file !== undefined) return readFileSync(opts.file);
  if (!opts.stdin) throw new RangeError("produce --raw needs --data <string>, --file <path>, or stdin");
  const chunks: Buffer[] = [];
  for await (const chunk of opts.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
