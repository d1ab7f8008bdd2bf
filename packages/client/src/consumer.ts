import type { LanceClient } from "./client.js";
import { backoffDelay, sleep } from "./async-utils.js";
import type { FetchResult } from "./connection.js";
import { ClientError, isClientError } from "./errors.js";
import { decodeTlv, type TlvRecord } from "./framing.js";
import type { FileOffsetStore } from "./offset-store.js";
import type { Framing } from "./producer.js";

/**
 * Where a consumer starts. `earliest` = the oldest retained record, `latest` = the end of the
 * log at start time (only records produced afterwards), a bigint = that record offset,
 * `{ timestampNs }` = the first batch whose newest record is at or after that time (asked of
 * the server with the OffsetForTime extension; batch times are the producers' timestamps).
 */
export type StartPosition = "earliest" | "latest" | bigint | { timestampNs: bigint };

export interface ConsumerOptions {
  topicId: number;
  /** Default `earliest`. Ignored when `offsets` holds a committed offset for this consumer. */
  start?: StartPosition;
  /** Must match how the records were produced. Default `tlv`. */
  framing?: Framing;
  /** Fetch size hint; the server still returns at least one whole batch. Default 1 MiB. */
  maxFetchBytes?: number;
  /** Keep polling at the end of the log instead of finishing. Default false. */
  follow?: boolean;
  /** Poll delay when caught up: doubles from `pollMinMs` to `pollMaxMs`, back to the minimum after data. */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** Committed offsets: resume from them, and `commit()` writes them. */
  offsets?: { store: FileOffsetStore; consumer: string };
}

export type ConsumerEvent =
  /**
   * With `tlv` framing one record (`recordCount` 1). With `raw` framing the data of one fetch
   * reply, covering `recordCount` offsets from `offset` (it may start before the position asked
   * for: raw data cannot be split).
   */
  | { kind: "record"; offset: bigint; value: Uint8Array; recordCount: number }
  /**
   * Offsets `from..to` (inclusive) were skipped: the server has no records there any more
   * (removed by retention, or quarantined). Never reported before the first record of an
   * `earliest` read, where it is just the log start.
   */
  | { kind: "gap"; from: bigint; to: bigint; count: bigint };

/**
 * Reads a topic as an async iterator of records (and gap events), by record offset.
 *
 * ```ts
 * for await (const e of new Consumer(client, { topicId, start: "earliest" })) {
 *   if (e.kind === "gap") console.warn(`skipped ${e.count} offsets`);
 *   else handle(e.offset, e.value);
 * }
 * ```
 */
export class Consumer implements AsyncIterable<ConsumerEvent> {
  readonly topicId: number;
  private readonly client: LanceClient;
  private readonly options: ConsumerOptions;
  private readonly abort = new AbortController();
  private next: bigint | null = null;
  private end: bigint | null = null;
  private iterating = false;
  private startWasEarliest = false;

  constructor(client: LanceClient, options: ConsumerOptions) {
    this.client = client;
    this.options = options;
    this.topicId = options.topicId;
    const start = options.start ?? "earliest";
    if (typeof start === "bigint" && (start < 0n || start >= 0xffff_ffff_ffff_ffffn)) {
      throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", `start offset must be in 0..2^64-2, got ${start}`);
    }
  }

  /** The next offset to read (null until iteration resolved the start). `commit()` saves it. */
  get position(): bigint | null {
    return this.next;
  }

  /** The end of the log as last seen when caught up (null before). */
  get serverEnd(): bigint | null {
    return this.end;
  }

  /** Saves `position` for this consumer and topic (atomically). */
  commit(): void {
    const o = this.options.offsets;
    if (!o) throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", "commit() needs the `offsets` option (a store and a consumer name)");
    if (this.next === null) return;
    o.store.save(o.consumer, this.topicId, this.next);
  }

  /** Ends the iteration (a pending poll wait returns at once). */
  close(): void {
    this.abort.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerEvent> {
    if (this.iterating) throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", "a Consumer can be iterated by one loop at a time");
    this.iterating = true;
    try {
      let next: bigint = this.next ?? (await this.resolveStart());
      this.next = next;
      const maxBytes = this.options.maxFetchBytes ?? 1024 * 1024;
      let idlePolls = 0;
      let seenData = false;
      while (!this.abort.signal.aborted) {
        const from: bigint = next;
        const reply: FetchResult = await this.client.call((c) => c.fetch(this.topicId, from, maxBytes));
        if (this.abort.signal.aborted) return;
        if (reply.kind === "catchingUp" || reply.recordCount === 0) {
          if (reply.kind === "data" && reply.data.byteLength > 0) {
            throw new ClientError("LNC_CLIENT_FRAMING", `fetch reply at offset ${from} has ${reply.data.byteLength} bytes but claims 0 records`);
          }
          this.end = reply.kind === "catchingUp" ? reply.end : reply.nextOffset;
          if (!this.options.follow) return;
          idlePolls++;
          const delay = backoffDelay(idlePolls, { baseDelayMs: this.options.pollMinMs ?? 50, maxDelayMs: this.options.pollMaxMs ?? 2_000 });
          if (!(await this.wait(delay))) return;
          continue;
        }
        idlePolls = 0;
        const first = reply.nextOffset - BigInt(reply.recordCount);
        if (first > from && !(this.startWasEarliest && !seenData)) {
          yield { kind: "gap", from, to: first - 1n, count: first - from };
        }
        seenData = true;
        if (first > next) next = first;
        if ((this.options.framing ?? "tlv") === "raw") {
          next = reply.nextOffset;
          this.next = next;
          yield { kind: "record", offset: first, value: reply.data, recordCount: reply.recordCount };
          continue;
        }
        let records: TlvRecord[];
        try {
          records = decodeTlv(reply.data);
        } catch (err) {
          if (!isClientError(err, "LNC_CLIENT_FRAMING")) throw err;
          throw new ClientError("LNC_CLIENT_FRAMING", `fetch at offset ${from}: ${err.message} (were these records produced without TLV framing? read them with framing "raw")`, {
            cause: err,
          });
        }
        if (records.length !== reply.recordCount) {
          throw new ClientError(
            "LNC_CLIENT_FRAMING",
            `fetch at offset ${from}: the server counted ${reply.recordCount} records but the data splits into ${records.length} TLV records ` +
              "(were they produced without TLV framing? read them with framing \"raw\")",
          );
        }
        for (let i = 0; i < records.length; i++) {
          const offset = first + BigInt(i);
          if (offset < next) continue; // the fetch started inside this batch
          next = offset + 1n;
          this.next = next;
          yield { kind: "record", offset, value: records[i]!.value, recordCount: 1 };
        }
        if (reply.nextOffset > next) next = reply.nextOffset;
        this.next = next;
      }
    } finally {
      this.iterating = false;
    }
  }

  private async resolveStart(): Promise<bigint> {
    const o = this.options.offsets;
    if (o) {
      const committed = o.store.load(o.consumer, this.topicId);
      if (committed !== null) return committed;
    }
    const start = this.options.start ?? "earliest";
    if (start === "earliest") {
      this.startWasEarliest = true;
      return 0n;
    }
    if (start === "latest") return this.client.call((c) => c.endOffset(this.topicId));
    if (typeof start === "object") return this.client.call((c) => c.offsetForTime(this.topicId, start.timestampNs));
    return start;
  }

  /** False when the consumer was closed during the wait. */
  private async wait(ms: number): Promise<boolean> {
    try {
      await sleep(ms, this.abort.signal);
      return true;
    } catch (err) {
      if (isClientError(err, "LNC_CLIENT_CLOSED")) return false;
      throw err;
    }
  }
}
