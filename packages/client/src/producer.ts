import { DEFAULT_MAX_PAYLOAD_LENGTH } from "@lance/protocol";
import type { LanceClient } from "./client.js";
import { ClientError } from "./errors.js";
import { TLV_HEADER_SIZE, encodeTlv } from "./framing.js";

/**
 * `tlv`: each `send` is one record, framed `type u8 | length u32 LE | value` (upstream's
 * client convention); the Consumer splits batches back into records.
 * `raw`: values are concatenated with nothing between them (upstream's Rust Producer and
 * lnc-bench); the server still counts one offset per value, but a reader cannot split them.
 */
export type Framing = "tlv" | "raw";

export interface ProducerOptions {
  topicId: number;
  framing?: Framing;
  /** A batch is sent once it holds this many payload bytes. Default 64 KiB. */
  batchMaxBytes?: number;
  /** A batch that is not full is sent this long after its first record. Default 5 ms; 0 = at the next turn of the event loop. */
  lingerMs?: number;
  /** Ingest frames written and not yet acked. Default 4. Above 1, a retry can reorder batches. */
  maxInFlight?: number;
  /** `send` waits while this many bytes are queued or in flight. Default 32 MiB. */
  maxBufferedBytes?: number;
  /**
   * Called when each ingest attempt settles (retries included): `error` unset for the ack.
   * For tools that audit delivery (lnc chaos counts attempts and lost replies per record).
   */
  onIngestAttempt?: (attempt: IngestAttempt) => void;
}

export interface IngestAttempt {
  payload: Uint8Array;
  recordCount: number;
  /** 1 for the first try. */
  attempt: number;
  error?: unknown;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Batch {
  values: Uint8Array[];
  waiters: Waiter[];
  /** Payload bytes once encoded. */
  bytes: number;
  /** No more records go into it. */
  sealed: boolean;
  /** When it is sent even if not full (ms, performance.now clock). */
  deadline: number;
  /** Set for `sendPayload`: the payload as given and the record count it claims. */
  opaque?: { payload: Uint8Array; recordCount: number };
}

export interface ProducerStats {
  /** Ingest frames acked. */
  batchesAcked: number;
  /** Records (offsets) acked. */
  recordsAcked: number;
  /** Payload bytes acked. */
  bytesAcked: number;
}

const encoder = new TextEncoder();

/**
 * Batches records for one topic and sends each batch as ONE ingest (`record_count` = its
 * records), pipelining up to `maxInFlight` batches on the client's connection. `send`
 * resolves when the record's batch is acked, i.e. durable on the server.
 *
 * Delivery is at-least-once: a batch whose ack is lost (timeout, dropped connection) is sent
 * again, and if the first copy had been written, its records are stored twice (under new
 * offsets). Backpressure and error replies are safe to retry: the server wrote nothing.
 */
export class Producer {
  readonly topicId: number;
  readonly framing: Framing;
  private readonly client: LanceClient;
  private readonly batchMaxBytes: number;
  private readonly lingerMs: number;
  private readonly maxInFlight: number;
  private readonly maxBufferedBytes: number;
  private readonly onIngestAttempt: ProducerOptions["onIngestAttempt"];
  private readonly queue: Batch[] = [];
  private readonly outstanding = new Set<Promise<void>>();
  private readonly drainWaiters: Array<() => void> = [];
  private inFlight = 0;
  private buffered = 0;
  private pumpScheduled = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counters: ProducerStats = { batchesAcked: 0, recordsAcked: 0, bytesAcked: 0 };

  constructor(client: LanceClient, options: ProducerOptions) {
    this.client = client;
    this.topicId = options.topicId;
    this.framing = options.framing ?? "tlv";
    this.batchMaxBytes = positive("batchMaxBytes", options.batchMaxBytes ?? 64 * 1024);
    this.lingerMs = nonNegative("lingerMs", options.lingerMs ?? 5);
    this.maxInFlight = positive("maxInFlight", options.maxInFlight ?? 4);
    this.maxBufferedBytes = positive("maxBufferedBytes", options.maxBufferedBytes ?? 32 * 1024 * 1024);
    this.onIngestAttempt = options.onIngestAttempt;
  }

  get stats(): Readonly<ProducerStats> {
    return this.counters;
  }

  /** Payload bytes queued or in flight. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Resolves once `send` would not wait for buffer room. A loop reading a large input calls
   * it before each `send` (without awaiting the sends) to keep memory bounded.
   */
  ready(): Promise<void> {
    return this.waitForRoom();
  }

  /**
   * Queues one record (at once, unless `maxBufferedBytes` are already buffered: then it waits
   * for room first); resolves when its batch is acked. Strings are sent as UTF-8.
   */
  send(value: Uint8Array | string): Promise<void> {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    const size = bytes.byteLength + (this.framing === "tlv" ? TLV_HEADER_SIZE : 0);
    if (size > DEFAULT_MAX_PAYLOAD_LENGTH) {
      return Promise.reject(
        new ClientError("LNC_CLIENT_BAD_ARGUMENT", `record of ${bytes.byteLength} bytes does not fit in one ingest (max ${DEFAULT_MAX_PAYLOAD_LENGTH} bytes of payload)`),
      );
    }
    return this.whenRoom(() => this.enqueueRecord(bytes, size));
  }

  /**
   * Sends `payload` as it is, as one ingest claiming `recordCount` records, in order with the
   * batches around it. For upstream-compatible payloads (raw, or pre-encoded TLV).
   */
  sendPayload(payload: Uint8Array, recordCount: number): Promise<void> {
    if (payload.byteLength > DEFAULT_MAX_PAYLOAD_LENGTH) {
      return Promise.reject(new ClientError("LNC_CLIENT_BAD_ARGUMENT", `payload of ${payload.byteLength} bytes is over the ${DEFAULT_MAX_PAYLOAD_LENGTH}-byte ingest limit`));
    }
    if (!Number.isInteger(recordCount) || recordCount < 0 || recordCount > 0xffff_ffff) {
      return Promise.reject(new ClientError("LNC_CLIENT_BAD_ARGUMENT", `recordCount must be a u32, got ${recordCount}`));
    }
    return this.whenRoom(
      () =>
        new Promise<void>((resolve, reject) => {
          const last = this.queue[this.queue.length - 1];
          if (last) last.sealed = true;
          this.queue.push({ values: [], waiters: [{ resolve, reject }], bytes: payload.byteLength, sealed: true, deadline: 0, opaque: { payload, recordCount } });
          this.buffered += payload.byteLength;
          this.schedulePump();
        }),
    );
  }

  /** Sends every queued record now and waits until all sent so far are acked (or failed). */
  async flush(): Promise<void> {
    for (const b of this.queue) {
      b.sealed = true;
      b.deadline = 0;
    }
    this.pump();
    while (this.outstanding.size > 0) await Promise.allSettled([...this.outstanding]);
  }

  /** Flushes, then refuses further sends. Does not close the client. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** Runs `enqueue` now when there is buffer room, else once there is; tracks the outcome for `flush`. */
  private whenRoom(enqueue: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new ClientError("LNC_CLIENT_CLOSED", "producer is closed"));
    const done = this.buffered < this.maxBufferedBytes ? enqueue() : this.waitForRoom().then(enqueue);
    this.track(done);
    return done;
  }

  private async waitForRoom(): Promise<void> {
    if (this.closed) throw new ClientError("LNC_CLIENT_CLOSED", "producer is closed");
    while (this.buffered >= this.maxBufferedBytes) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
  }

  private enqueueRecord(bytes: Uint8Array, size: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let batch = this.queue[this.queue.length - 1];
      if (!batch || batch.sealed || batch.bytes + size > DEFAULT_MAX_PAYLOAD_LENGTH) {
        if (batch) batch.sealed = true;
        batch = { values: [], waiters: [], bytes: 0, sealed: false, deadline: performance.now() + this.lingerMs };
        this.queue.push(batch);
      }
      batch.values.push(bytes);
      batch.waiters.push({ resolve, reject });
      batch.bytes += size;
      this.buffered += size;
      if (batch.bytes >= this.batchMaxBytes) batch.sealed = true;
      this.schedulePump();
    });
  }

  private track(p: Promise<void>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.outstanding.add(settled);
    void settled.then(() => this.outstanding.delete(settled));
  }

  /** Coalesces records sent in the same turn of the event loop into one batch. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const now = performance.now();
    while (this.inFlight < this.maxInFlight) {
      const head = this.queue[0];
      if (!head || (!head.sealed && head.deadline > now)) break;
      this.queue.shift();
      this.dispatch(head);
    }
    const head = this.queue[0];
    if (head && this.inFlight < this.maxInFlight) {
      this.lingerTimer = setTimeout(() => this.pump(), Math.max(0, head.deadline - now));
    }
  }

  private dispatch(batch: Batch): void {
    this.inFlight++;
    const payload = batch.opaque?.payload ?? (this.framing === "tlv" ? encodeTlv(batch.values) : concat(batch.values, batch.bytes));
    const recordCount = batch.opaque?.recordCount ?? batch.values.length;
    const hook = this.onIngestAttempt;
    let attempt = 0;
    this.client
      .call((conn) => {
        const sent = conn.ingest(this.topicId, payload, recordCount);
        if (!hook) return sent;
        const n = ++attempt;
        return sent.then(
          (ack) => (hook({ payload, recordCount, attempt: n }), ack),
          (error: unknown) => {
            hook({ payload, recordCount, attempt: n, error });
            throw error;
          },
        );
      })
      .then(
        () => {
          this.counters.batchesAcked++;
          this.counters.recordsAcked += recordCount;
          this.counters.bytesAcked += payload.byteLength;
          for (const w of batch.waiters) w.resolve();
        },
        (err: unknown) => {
          for (const w of batch.waiters) w.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.buffered -= batch.bytes;
        for (const wake of this.drainWaiters.splice(0)) wake();
        this.pump();
      });
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", `${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", `${name} must be >= 0, got ${v}`);
  return v;
}
