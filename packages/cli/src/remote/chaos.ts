import { randomBytes } from "node:crypto";
import { Admin, Consumer, LanceClient, Producer, encodeTlv, isClientError, type TopicInfo } from "@lance/client";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { percentile } from "./bench.js";
import { ChaosChecker, attemptOutcome, chaosProblems, type ChaosCheckResult } from "./chaos-checker.js";
import { CHAOS_HEADER_SIZE, encodeChaosPayload } from "./chaos-payload.js";
import { securityOf, type RemoteSecurity } from "./session.js";

export { ChaosChecker, attemptOutcome, chaosProblems, checkChaosStream, type AttemptOutcome, type ChaosCheckResult, type ProducedRecord } from "./chaos-checker.js";
export { CHAOS_HEADER_SIZE, CHAOS_MAGIC, CHAOS_VERSION, encodeChaosPayload, decodeChaosPayload, type ChaosRecord, type ChaosDecode } from "./chaos-payload.js";

export interface ChaosOptions extends RemoteSecurity {
  /** `host:port` of every node; clients move to the next one when theirs fails, and follow redirects. */
  servers: string[];
  topic: string;
  /** Create the topic when it does not exist (else it must). */
  create?: boolean;
  /** Records per second (target). */
  rate: number;
  /** Seconds of producing; 0 = until the signal aborts. */
  duration: number;
  /** Bytes per record value (at least the 40-byte header). */
  size: number;
  /** Where the consumer starts; default the earliest offset. */
  fromOffset?: bigint;
  /** Seconds, after producing stops, for the outstanding sends and the consumer to finish. */
  drainTimeout: number;
  /** Ingests in flight. 1 (default) keeps order across retries; above 1 a retry can reorder. */
  maxInFlight: number;
  /** Unsettled sends before the producer pauses (an outage must not queue without bound). */
  maxPending: number;
  /** Per-attempt request timeout (ms). */
  requestTimeoutMs: number;
  /** Attempts per send / fetch before the client gives up on it. */
  maxAttempts: number;
  /** Defaults to 8 random bytes. */
  runId?: bigint;
}

export const CHAOS_DEFAULTS = {
  rate: 100,
  duration: 60,
  size: 128,
  drainTimeout: 30,
  maxInFlight: 1,
  maxPending: 10_000,
  requestTimeoutMs: 10_000,
  maxAttempts: 30,
} as const satisfies Partial<ChaosOptions>;

export interface ChaosProgress {
  seconds: number;
  produced: number;
  acked: number;
  failed: number;
  consumed: number;
  /** Acked records the consumer has not read yet. */
  missing: number;
  /** Parse, offset and unexpected-seq errors plus producer and consumer errors. */
  errors: number;
  /** Set once producing stopped. */
  draining: boolean;
}

export interface ChaosReport extends ChaosCheckResult {
  result: "PASS" | "FAIL";
  problems: string[];
  run_id: string;
  topic: string;
  topic_id: number;
  servers: string[];
  /** Seconds of producing. */
  seconds: number;
  rate_target: number;
  size: number;
  acked_per_sec: number;
  /** From the send call to the ack (queueing and retries included), nearest rank. */
  ack_latency_ms: { p50: number; p99: number; max: number };
  /** The consumer read everything acked and reached the end of the log before the drain timeout. */
  drained: boolean;
  /** Sends that finally failed, and the first error. */
  producer_errors: number;
  first_producer_error?: string;
  /** Consumer restarts after an error (reconnects), and the first error. */
  consumer_restarts: number;
  first_consumer_error?: string;
  /** Client retries (each failed attempt, redirects included), producer and consumer. */
  retries: number;
}

export interface ChaosHooks {
  /** Called about once a second with the counters. */
  onProgress?: (p: ChaosProgress) => void;
  /** Aborting it cuts the drain short (a second Ctrl-C). */
  drainSignal?: AbortSignal;
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return `${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ""}`;
}

function validate(o: ChaosOptions): void {
  if (o.servers.length === 0) throw new RangeError("--server needs at least one host:port");
  if (!o.topic) throw new RangeError("--topic is required");
  if (!Number.isFinite(o.rate) || o.rate <= 0) throw new RangeError(`--rate must be > 0, got ${o.rate}`);
  if (!Number.isFinite(o.duration) || o.duration < 0) throw new RangeError(`--duration must be >= 0, got ${o.duration}`);
  if (!Number.isInteger(o.size) || o.size < CHAOS_HEADER_SIZE || o.size > 16 * 1024 * 1024) {
    throw new RangeError(`--size must be an integer from ${CHAOS_HEADER_SIZE} (the record header) to 16 MiB, got ${o.size}`);
  }
  if (!Number.isFinite(o.drainTimeout) || o.drainTimeout < 0) throw new RangeError(`--drain-timeout must be >= 0, got ${o.drainTimeout}`);
  for (const [name, v] of [["max-in-flight", o.maxInFlight], ["max-pending", o.maxPending], ["request-timeout", o.requestTimeoutMs], ["max-attempts", o.maxAttempts]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${v}`);
  }
}

/** Resolves after `ms` or when `signal` aborts, whichever is first. */
function pause(ms: number, ...signals: Array<AbortSignal | undefined>): Promise<void> {
  return new Promise((resolve) => {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    if (live.some((s) => s.aborted)) return resolve();
    const done = () => {
      clearTimeout(timer);
      for (const s of live) s.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    for (const s of live) s.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs a chaos check: a sequenced producer and a verifying consumer on `topic`, both
 * surviving node restarts (reconnects, the next address of `servers`, NOT_LEADER redirects).
 * Producing stops after `duration` seconds or when `signal` aborts; then the outstanding sends
 * and the consumer get `drainTimeout` seconds to finish, and the report says what was lost,
 * duplicated or reordered among the acknowledged records.
 */
export async function runChaos(options: ChaosOptions, signal?: AbortSignal, hooks: ChaosHooks = {}): Promise<ChaosReport> {
  const o = options;
  validate(o);
  const runId = o.runId ?? randomBytes(8).readBigUInt64LE(0);
  const checker = new ChaosChecker(runId);
  let retries = 0;
  const clientOptions = {
    ...securityOf(o),
    servers: o.servers,
    connectTimeoutMs: Math.min(5_000, o.requestTimeoutMs),
    requestTimeoutMs: o.requestTimeoutMs,
    retry: { maxAttempts: o.maxAttempts, baseDelayMs: 50, maxDelayMs: 1_000 },
    onRetry: () => void retries++,
  };
  const setup = new LanceClient(clientOptions);
  let topic: TopicInfo;
  try {
    const admin = new Admin(setup);
    topic = o.create ? await admin.ensureTopic(o.topic) : await admin.resolveTopic(o.topic);
  } finally {
    setup.close();
  }
  const producerClient = new LanceClient(clientOptions);
  const consumerClient = new LanceClient(clientOptions);

  // ---- producer ----
  const seqOf = new WeakMap<Uint8Array, number>();
  const latencies: number[] = [];
  let pending = 0;
  let producerErrors = 0;
  let firstProducerError: string | undefined;
  const producer = new Producer(producerClient, {
    topicId: topic.id,
    lingerMs: 0,
    maxInFlight: o.maxInFlight,
    onIngestAttempt: (a) => {
      const seq = seqOf.get(a.payload);
      if (seq !== undefined) checker.attempt(seq, a.error === undefined ? "acked" : attemptOutcome(a.error));
    },
  });
  const stopProducing = new AbortController();
  const onAbort = () => stopProducing.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) stopProducing.abort();
  const started = performance.now();
  let producingSeconds = 0;
  let settledWake: (() => void) | null = null;

  const produce = async () => {
    const interval = 1000 / o.rate;
    const end = o.duration > 0 ? started + o.duration * 1000 : Infinity;
    let next = started;
    let seq = 0;
    while (!stopProducing.signal.aborted) {
      const now = performance.now();
      if (now >= end) break;
      if (now < next) {
        await pause(Math.min(next, end) - now, stopProducing.signal);
        continue;
      }
      if (pending >= o.maxPending) {
        await Promise.race([new Promise<void>((r) => (settledWake = r)), pause(100, stopProducing.signal)]);
        next = performance.now();
        continue;
      }
      // Do not burst more than a second's worth to catch up after a stall.
      if (next < now - 1000) next = now - 1000;
      while (next <= now && pending < o.maxPending) {
        next += interval;
        const s = ++seq;
        checker.sent(s);
        const payload = encodeTlv([encodeChaosPayload(runId, BigInt(s), o.size)]);
        seqOf.set(payload, s);
        pending++;
        const t0 = performance.now();
        producer.sendPayload(payload, 1).then(
          () => {
            latencies.push(performance.now() - t0);
            checker.acked(s);
          },
          (err: unknown) => {
            checker.failed(s);
            producerErrors++;
            firstProducerError ??= describe(err);
          },
        ).finally(() => {
          pending--;
          const wake = settledWake;
          settledWake = null;
          wake?.();
        });
      }
    }
    producingSeconds = (performance.now() - started) / 1000;
  };

  // ---- consumer ----
  const stopConsuming = new AbortController();
  let current: Consumer | null = null;
  /** The next offset to read (null until the first record). */
  let position: bigint | null = o.fromOffset ?? null;
  let consumerRestarts = 0;
  let firstConsumerError: string | undefined;
  let consumerErrors = 0;

  const consume = async () => {
    let failures = 0;
    while (!stopConsuming.signal.aborted) {
      const start = position ?? "earliest";
      const consumer = new Consumer(consumerClient, { topicId: topic.id, start, follow: true, pollMinMs: 10, pollMaxMs: 200, maxFetchBytes: 256 * 1024 });
      current = consumer;
      try {
        for await (const e of consumer) {
          if (e.kind === "record") checker.observe(e.offset, e.value);
          position = consumer.position ?? position;
          failures = 0;
          if (stopConsuming.signal.aborted) break;
        }
        position = consumer.position ?? position;
      } catch (err) {
        if (stopConsuming.signal.aborted) break;
        position = consumer.position ?? position;
        consumerErrors++;
        firstConsumerError ??= describe(err);
        if (isClientError(err, "LNC_CLIENT_FRAMING")) {
          await skipUnframed(consumerClient, topic.id, position ?? 0n, checker).then(
            (next) => (position = next),
            () => undefined,
          );
        } else {
          consumerRestarts++;
          failures++;
          await pause(Math.min(1_000, 50 * 2 ** Math.min(failures, 5)), stopConsuming.signal);
        }
      } finally {
        current = null;
      }
    }
  };

  const progressTimer = hooks.onProgress
    ? setInterval(() => {
        const p = checker.progress;
        hooks.onProgress?.({
          seconds: (performance.now() - started) / 1000,
          ...p,
          missing: checker.missing,
          errors: p.errors + producerErrors + consumerErrors,
          draining: stopProducing.signal.aborted || producingSeconds > 0,
        });
      }, 1000)
    : undefined;

  const consuming = consume();
  let drained = false;
  try {
    await produce();
    stopProducing.abort();
    // ---- drain: outstanding sends, then the consumer up to everything acked and the log end ----
    const drainEnd = performance.now() + o.drainTimeout * 1000;
    const drainCut = hooks.drainSignal;
    await Promise.race([producer.flush(), pause(drainEnd - performance.now(), drainCut)]);
    let end: bigint | null = null;
    if (!drainCut?.aborted) {
      try {
        const endClient = new LanceClient({ ...clientOptions, retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 500 } });
        try {
          end = await endClient.call((c) => c.endOffset(topic.id));
        } finally {
          endClient.close();
        }
      } catch {
        end = null; // no end offset: wait for the acked records alone
      }
    }
    while (!drainCut?.aborted && performance.now() < drainEnd) {
      if (checker.missing === 0 && pending === 0 && (end === null || (position ?? 0n) >= end)) {
        drained = true;
        break;
      }
      await pause(20, drainCut);
    }
  } finally {
    clearInterval(progressTimer);
    signal?.removeEventListener("abort", onAbort);
    stopConsuming.abort();
    (current as Consumer | null)?.close();
    producerClient.close();
    consumerClient.close();
    await consuming.catch(() => undefined);
  }

  const check = checker.result();
  const problems = chaosProblems(check);
  const sorted = Float64Array.from(latencies).sort();
  const seconds = producingSeconds || (performance.now() - started) / 1000;
  return {
    result: problems.length === 0 ? "PASS" : "FAIL",
    problems,
    run_id: runId.toString(16).padStart(16, "0"),
    topic: topic.name,
    topic_id: topic.id,
    servers: [...o.servers],
    seconds,
    rate_target: o.rate,
    size: o.size,
    ...check,
    acked_per_sec: seconds > 0 ? check.acked / seconds : 0,
    ack_latency_ms: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : 0 },
    drained,
    producer_errors: producerErrors,
    ...(firstProducerError !== undefined ? { first_producer_error: firstProducerError } : {}),
    consumer_restarts: consumerRestarts,
    ...(firstConsumerError !== undefined ? { first_consumer_error: firstConsumerError } : {}),
    retries,
  };
}

/**
 * Data at `from` that does not split into TLV records: read that batch unframed, count it as
 * parse errors and return the offset after it.
 */
async function skipUnframed(client: LanceClient, topicId: number, from: bigint, checker: ChaosChecker): Promise<bigint> {
  const raw = new Consumer(client, { topicId, start: from, framing: "raw", maxFetchBytes: 1 });
  for await (const e of raw) {
    if (e.kind !== "record") continue;
    checker.parseError(e.offset, `${e.value.byteLength} bytes at offset ${e.offset} do not split into ${e.recordCount} TLV record(s)`, e.recordCount);
    raw.close();
    return e.offset + BigInt(e.recordCount);
  }
  return from;
}

export function renderChaos(r: ChaosReport): string {
  const dup = `${r.duplicates} (after an ambiguous retry: ${r.duplicates_after_retry}, unexplained: ${r.duplicates_unexplained})`;
  const lines = [
    `Result:       ${r.result}${r.problems.length ? ` — ${r.problems.join("; ")}` : ""}`,
    `Run:          ${r.run_id} on topic ${r.topic} (id ${r.topic_id}) via ${r.servers.join(",")}`,
    `Produced:     ${r.produced} in ${r.seconds.toFixed(2)} s (target ${r.rate_target}/s, ${r.size} B records)`,
    `Acked:        ${r.acked} (${Math.round(r.acked_per_sec)}/s); failed (ambiguous): ${r.failed}; pending: ${r.pending}`,
    `Consumed:     ${r.consumed} (${r.unique_consumed} distinct)${r.foreign_records ? `, ${r.foreign_records} of other runs skipped` : ""}${r.drained ? "" : " — NOT drained before the timeout"}`,
    `Gaps:         ${r.gaps}${r.gap_seqs.length ? ` (seqs ${r.gap_seqs.join(", ")}${r.gaps > r.gap_seqs.length ? ", ..." : ""})` : ""}`,
    `Duplicates:   ${dup}`,
    `Order errors: ${r.order_errors}${r.reordered_after_retry ? ` (+${r.reordered_after_retry} reordered by a retry)` : ""}; offset errors: ${r.offset_errors}`,
    `Parse errors: ${r.parse_errors}${r.parse_error_samples.length ? ` (first at offset ${r.parse_error_samples[0]!.offset}: ${r.parse_error_samples[0]!.reason})` : ""}`,
    `Ack latency:  p50 ${r.ack_latency_ms.p50.toFixed(2)} ms  p99 ${r.ack_latency_ms.p99.toFixed(2)} ms  max ${r.ack_latency_ms.max.toFixed(2)} ms`,
    `Retries:      ${r.retries} attempt(s) retried, ${r.retried_records} record(s) resent, ${r.ambiguous_attempts} ambiguous; consumer restarts ${r.consumer_restarts}`,
  ];
  if (r.unexpected_seqs) lines.push(`Unexpected:   ${r.unexpected_seqs} record(s) with a seq never produced`);
  if (r.stored_after_refusal) lines.push(`Refused but stored: ${r.stored_after_refusal}`);
  if (r.failed_but_stored) lines.push(`Failed but stored: ${r.failed_but_stored} (allowed: their failure was ambiguous)`);
  if (r.first_producer_error) lines.push(`First producer error: ${r.first_producer_error}`);
  if (r.first_consumer_error) lines.push(`First consumer error: ${r.first_consumer_error}`);
  return lines.join("\n");
}

export interface ChaosCommandOptions extends ChaosOptions {
  json?: boolean;
  /** Progress lines on stderr every second even when stderr is not a terminal. */
  progress?: boolean;
}

/** `lnc chaos`: runs until the duration ends or SIGINT/SIGTERM (a second one cuts the drain). Exit 0 PASS, 1 FAIL. */
export async function runChaosCommand(options: ChaosCommandOptions, io: CommandIO): Promise<number> {
  validate(options);
  const stop = new AbortController();
  const cut = new AbortController();
  const onSignal = () => {
    if (!stop.signal.aborted) {
      io.err(`lnc chaos: stopping; draining for up to ${options.drainTimeout} s (signal again to cut it short)`);
      stop.abort();
    } else cut.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const showProgress = options.progress === true || (io.interactive && !options.json);
  try {
    if (!options.json) {
      io.err(
        `lnc chaos: ${options.servers.join(",")} topic ${options.topic}, ${options.rate} records/s of ${options.size} B, ` +
          `${options.duration > 0 ? `${options.duration} s` : "until Ctrl-C"}`,
      );
    }
    const report = await runChaos(options, stop.signal, {
      drainSignal: cut.signal,
      ...(showProgress
        ? {
            onProgress: (p: ChaosProgress) =>
              io.err(
                `  ${p.seconds.toFixed(0)} s${p.draining ? " (draining)" : ""}: produced ${p.produced}, acked ${p.acked}, failed ${p.failed}, consumed ${p.consumed}, missing ${p.missing}, errors ${p.errors}`,
              ),
          }
        : {}),
    });
    io.out(options.json ? JSON.stringify(report) : renderChaos(report));
    return report.result === "PASS" ? EXIT_OK : EXIT_PROBLEM;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
