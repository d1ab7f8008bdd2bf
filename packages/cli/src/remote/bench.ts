import { Admin, LanceClient, Producer } from "@lance/client";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { securityOf, type RemoteSecurity } from "./session.js";

export interface BenchOptions extends RemoteSecurity {
  /** `host:port` of the server. */
  endpoint: string;
  /** Ensured (created if missing). */
  topicName: string;
  /** Producers, one TCP connection each. */
  connections: number;
  /** Messages awaiting their ack per connection (each worker sends, awaits the ack, repeats). */
  pipeline: number;
  msgSize: number;
  /** Measured seconds. */
  duration: number;
  /** Seconds run before measuring; counters start afterwards. */
  warmup: number;
  /** Producer batch size in bytes. */
  batchBytes: number;
  /** Producer linger; 0 = send as soon as an ingest slot is free. */
  lingerMs: number;
  /** Ingest frames in flight per connection. */
  maxInFlight: number;
  /** Seconds between progress lines on stderr (0 = none). */
  reportInterval: number;
  /** Exit 1 when more errors than this happened. */
  maxErrors: number;
  json?: boolean;
}

export const BENCH_DEFAULTS: Omit<BenchOptions, "endpoint"> = {
  topicName: "bench-topic",
  connections: 1,
  pipeline: 64,
  msgSize: 1024,
  duration: 30,
  warmup: 3,
  batchBytes: 64 * 1024,
  lingerMs: 0,
  maxInFlight: 4,
  reportInterval: 5,
  maxErrors: 0,
};

export interface LatencySummary {
  min: number;
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export interface BenchReport {
  endpoint: string;
  topic: string;
  connections: number;
  pipeline: number;
  msg_size: number;
  seconds: number;
  messages: number;
  bytes: number;
  msgs_per_sec: number;
  mb_per_sec: number;
  /** Milliseconds from `send` to the ack of its batch (durable), nearest rank. */
  ack_latency_ms: LatencySummary;
  errors: number;
  first_error?: string;
}

/** Growable array of latency samples (ms). */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  clear(): void {
    this.length = 0;
  }

  summary(): LatencySummary {
    const sorted = this.data.slice(0, this.length).sort();
    const n = sorted.length;
    if (n === 0) return { min: 0, avg: 0, p50: 0, p95: 0, p99: 0, p999: 0, max: 0 };
    const sum = sorted.reduce((a, b) => a + b, 0);
    return { min: sorted[0]!, avg: sum / n, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted[n - 1]! };
  }
}

/** Nearest-rank percentile of ascending `sorted` (as upstream lnc-bench). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  // toFixed drops float noise: 0.999 * 1000 is 999.0000000000001, whose ceiling would be 1000.
  const rank = Math.ceil(Number(((p / 100) * sorted.length).toFixed(6)));
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Upstream's filler: byte j of every message is j mod 251. */
export function benchPayload(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, j) => j % 251);
}

/**
 * `lnc bench`: like upstream lnc-bench. `connections` producers, each with `pipeline` workers
 * that send one message and wait for its ack; the producer batches what the workers send
 * (raw framing: messages concatenated, `record_count` = messages) and pipelines up to
 * `maxInFlight` ingests. Counts acked messages after the warmup.
 */
export async function runBench(options: BenchOptions, io: CommandIO): Promise<number> {
  const o = options;
  for (const [name, v] of [["connections", o.connections], ["pipeline", o.pipeline], ["msg-size", o.msgSize], ["max-in-flight", o.maxInFlight]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${v}`);
  }
  const setup = new LanceClient({ ...securityOf(o), server: o.endpoint });
  let topic;
  try {
    topic = await new Admin(setup).ensureTopic(o.topicName);
  } finally {
    setup.close();
  }
  const payload = benchPayload(o.msgSize);
  const clients = Array.from({ length: o.connections }, () => new LanceClient({ ...securityOf(o), server: o.endpoint, requestTimeoutMs: 15_000 }));
  const producers = clients.map(
    (c) => new Producer(c, { topicId: topic.id, framing: "raw", batchMaxBytes: o.batchBytes, lingerMs: o.lingerMs, maxInFlight: o.maxInFlight }),
  );
  const samples = new Samples();
  let measuring = o.warmup <= 0;
  let stopping = false;
  let messages = 0;
  let errors = 0;
  let firstError: string | undefined;
  let intervalMessages = 0;

  const worker = async (producer: Producer) => {
    while (!stopping) {
      const t0 = performance.now();
      try {
        await producer.send(payload);
        if (measuring) {
          samples.push(performance.now() - t0);
          messages++;
          intervalMessages++;
        }
      } catch (err) {
        if (measuring) {
          errors++;
          const e = err as { message?: string; code?: string };
          firstError ??= `${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ""}`;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };

  if (!o.json) {
    io.err(`lnc bench: ${o.endpoint} topic ${topic.name} (id ${topic.id}), ${o.connections} connection(s) x ${o.pipeline} in flight, ${o.msgSize} B messages, ${o.warmup} s warmup + ${o.duration} s`);
  }
  const running = producers.flatMap((p) => Array.from({ length: o.pipeline }, () => worker(p)));
  if (o.warmup > 0) {
    await new Promise((r) => setTimeout(r, o.warmup * 1000));
    measuring = true;
  }
  const t0 = performance.now();
  let lastReport = t0;
  const reporter =
    o.reportInterval > 0 && !o.json
      ? setInterval(() => {
          const now = performance.now();
          const rate = intervalMessages / ((now - lastReport) / 1000);
          io.err(`  ${((now - t0) / 1000).toFixed(0)} s: ${Math.round(rate)} msg/s, ${((rate * o.msgSize) / 1e6).toFixed(1)} MB/s, errors ${errors}`);
          intervalMessages = 0;
          lastReport = now;
        }, o.reportInterval * 1000)
      : undefined;
  await new Promise((r) => setTimeout(r, o.duration * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stopping = true;
  clearInterval(reporter);
  let drainTimer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([Promise.all(running).then(() => true), new Promise<boolean>((r) => (drainTimer = setTimeout(() => r(false), 15_000)))]);
  clearTimeout(drainTimer);
  for (const c of clients) c.close();

  const bytes = messages * o.msgSize;
  const report: BenchReport = {
    endpoint: o.endpoint,
    topic: topic.name,
    connections: o.connections,
    pipeline: o.pipeline,
    msg_size: o.msgSize,
    seconds,
    messages,
    bytes,
    msgs_per_sec: messages / seconds,
    mb_per_sec: bytes / seconds / 1e6,
    ack_latency_ms: samples.summary(),
    errors,
    ...(firstError !== undefined ? { first_error: firstError } : {}),
  };
  if (o.json) io.out(JSON.stringify(report, null, 2));
  else io.out(renderBench(report));
  if (!drained) io.err("warning: some sends were still unacknowledged 15 s after the run ended");
  if (errors > o.maxErrors || messages === 0) {
    io.err(`FAIL: ${errors} error(s) (allowed ${o.maxErrors})${messages === 0 ? ", no message acknowledged" : ""}${firstError ? `; first: ${firstError}` : ""}`);
    return EXIT_PROBLEM;
  }
  return EXIT_OK;
}

export function renderBench(r: BenchReport): string {
  const l = r.ack_latency_ms;
  const ms = (v: number) => `${v.toFixed(3)} ms`;
  return [
    `Messages:     ${r.messages} in ${r.seconds.toFixed(2)} s`,
    `Throughput:   ${Math.round(r.msgs_per_sec)} msg/s, ${r.mb_per_sec.toFixed(2)} MB/s`,
    `Ack latency:  p50 ${ms(l.p50)}  p99 ${ms(l.p99)}  p999 ${ms(l.p999)}  (min ${ms(l.min)}, avg ${ms(l.avg)}, p95 ${ms(l.p95)}, max ${ms(l.max)})`,
    `Errors:       ${r.errors}${r.first_error ? ` (first: ${r.first_error})` : ""}`,
  ].join("\n");
}
