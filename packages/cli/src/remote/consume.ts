import { homedir } from "node:os";
import { join } from "node:path";
import { Consumer, FileOffsetStore, type StartPosition } from "@lance/client";
import { EXIT_OK, type CommandIO } from "../io.js";
import { jsonInteger, withClient, type RemoteOptions } from "./session.js";

export interface ConsumeOptions extends RemoteOptions {
  topic: string;
  /** `earliest` (default), `latest`, or a record offset. */
  offset?: string;
  /** Stop after this many records. */
  maxRecords?: number;
  /** Keep waiting for new records at the end of the log. */
  follow?: boolean;
  /** One JSON object per line: `{"type":"record","offset":N,"value":"..."}`, and `{"type":"gap",...}`. */
  json?: boolean;
  /** Read records produced without framing (`produce --raw`, lnc-bench): one output per fetch reply. */
  raw?: boolean;
  /** Commit and resume offsets under this consumer name. */
  consumer?: string;
  /** Where committed offsets live; default ~/.lnc/offsets. */
  offsetsDir?: string;
  /** Aborting ends a `--follow` consume cleanly (the binary wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal;
}

export const DEFAULT_OFFSETS_DIR = join(homedir(), ".lnc", "offsets");

export function parseStart(value: string | undefined): StartPosition {
  if (value === undefined || value === "earliest") return "earliest";
  if (value === "latest") return "latest";
  if (/^\d+$/.test(value)) return BigInt(value);
  if (value.startsWith("@")) {
    const when = value.slice(1);
    if (/^\d+$/.test(when)) return { timestampNs: BigInt(when) };
    const ms = Date.parse(when);
    if (!Number.isNaN(ms)) return { timestampNs: BigInt(ms) * 1_000_000n };
  }
  throw new RangeError(`--offset must be earliest, latest, a record offset, or @<time> (ISO-8601 like @2026-01-31T12:00:00Z, or @<ns since epoch>), got ${JSON.stringify(value)}`);
}

/**
 * `lnc consume`: prints each record's value on its own line (or JSON lines). Skipped offset
 * ranges (retention, quarantine) are reported on stderr, and as `gap` lines with `--json`.
 */
export async function runConsume(opts: ConsumeOptions, io: CommandIO): Promise<number> {
  const start = parseStart(opts.offset);
  const decoder = new TextDecoder();
  let records = 0;
  await withClient(opts, async (client, admin) => {
    const topic = await admin.resolveTopic(opts.topic);
    const store = opts.consumer !== undefined ? new FileOffsetStore(opts.offsetsDir ?? DEFAULT_OFFSETS_DIR) : undefined;
    const consumer = new Consumer(client, {
      topicId: topic.id,
      start,
      follow: opts.follow ?? false,
      framing: opts.raw ? "raw" : "tlv",
      ...(store && opts.consumer !== undefined ? { offsets: { store, consumer: opts.consumer } } : {}),
    });
    const stop = () => consumer.close();
    opts.signal?.addEventListener("abort", stop, { once: true });
    let lastCommit = performance.now();
    try {
      if (opts.maxRecords === 0) return;
      for await (const e of consumer) {
        if (e.kind === "gap") {
          io.err(`warning: offsets ${e.from}..${e.to} of ${topic.name} were skipped (${e.count} records no longer on the server: removed by retention or quarantined)`);
          if (opts.json) io.out(JSON.stringify({ type: "gap", from: jsonInteger(e.from), to: jsonInteger(e.to), count: jsonInteger(e.count) }));
          continue;
        }
        records++;
        const value = decoder.decode(e.value);
        if (opts.json) {
          io.out(JSON.stringify({ type: "record", offset: jsonInteger(e.offset), ...(opts.raw ? { record_count: e.recordCount } : {}), value }));
        } else {
          io.out(value);
        }
        if (store && performance.now() - lastCommit > 1000) {
          consumer.commit();
          lastCommit = performance.now();
        }
        if (opts.maxRecords !== undefined && records >= opts.maxRecords) break;
      }
      if (!opts.follow && start !== "latest" && consumer.serverEnd !== null && consumer.position !== null && consumer.position > consumer.serverEnd) {
        io.err(`warning: offset ${consumer.position} is past the end of ${topic.name} (next offset ${consumer.serverEnd})`);
      }
    } finally {
      opts.signal?.removeEventListener("abort", stop);
      if (store) consumer.commit();
    }
  });
  return EXIT_OK;
}
