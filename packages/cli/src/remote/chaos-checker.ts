import { isClientError } from "@lance/client";
import { decodeChaosPayload } from "./chaos-payload.js";

/** How one ingest attempt of a record ended. */
export type AttemptOutcome =
  /** The server acked it. */
  | "acked"
  /** It failed in a way that leaves the write possible (lost reply, timeout, NO_QUORUM, ...). */
  | "ambiguous"
  /** The server said it wrote nothing (NOT_LEADER, Backpressure, ...) or it was never sent. */
  | "refused";

/** Error codes after which the server certainly did not store the record. */
const NOT_WRITTEN = new Set([
  "LNC_CLIENT_CONNECT_FAILED",
  "LNC_CLIENT_CONNECT_TIMEOUT",
  "LNC_CLIENT_BACKPRESSURE",
  "LNC_CLIENT_NOT_LEADER",
  "LNC_CLIENT_READ_ONLY",
  "LNC_CLIENT_AUTH_REQUIRED",
  "LNC_CLIENT_TOPIC_NOT_FOUND",
  "LNC_CLIENT_BAD_ARGUMENT",
  "LNC_CLIENT_BAD_ADDRESS",
  "LNC_CLIENT_TLS",
  "LNC_CLIENT_CLOSED",
]);

/** The outcome of a failed attempt: anything not known to be refused counts as ambiguous. */
export function attemptOutcome(error: unknown): AttemptOutcome {
  return isClientError(error) && NOT_WRITTEN.has(error.code) ? "refused" : "ambiguous";
}

export interface ChaosCheckResult {
  /** Sequence numbers handed to the producer (1..produced). */
  produced: number;
  acked: number;
  /** Sends that finally failed (the record may or may not be stored). */
  failed: number;
  /** Sends with no outcome yet when the result was taken. */
  pending: number;
  /** Records of this run read back, copies included. */
  consumed: number;
  /** Distinct sequence numbers read back. */
  unique_consumed: number;
  /** Well-formed records of other runs (skipped). */
  foreign_records: number;
  /** Acked sequence numbers never read back. */
  gaps: number;
  /** The first 20 of them. */
  gap_seqs: number[];
  /** Extra copies read back, in total. */
  duplicates: number;
  /** Extra copies explained by a retry after an attempt whose outcome was unknown. */
  duplicates_after_retry: number;
  /** Extra copies with no such retry: the server stored a record twice. */
  duplicates_unexplained: number;
  /** Records read after a higher sequence number without having been retried. */
  order_errors: number;
  /** Records read after a higher sequence number, explained by a retry (only with max-in-flight > 1). */
  reordered_after_retry: number;
  /** Record offsets that did not strictly increase. */
  offset_errors: number;
  /** Records that are not well-formed chaos records (bad magic, length, CRC, TLV framing). */
  parse_errors: number;
  /** Up to 5 `{ offset, reason }` of them. */
  parse_error_samples: Array<{ offset: string; reason: string }>;
  /** Records of this run with a sequence number that was never produced. */
  unexpected_seqs: number;
  /** Records stored although every attempt to send them was refused (nothing pending). */
  stored_after_refusal: number;
  /** Failed sends whose record was stored anyway (allowed: the failure was ambiguous). */
  failed_but_stored: number;
  /** Records sent more than once. */
  retried_records: number;
  /** Attempts that failed with an unknown outcome. */
  ambiguous_attempts: number;
}

const SENT = 1;
const ACKED = 2;
const FAILED = 4;
const OUT_OF_ORDER = 8;

/** A growable byte array indexed by sequence number. */
class ByteColumn {
  data = new Uint8Array(1024);

  ensure(n: number): void {
    if (n < this.data.length) return;
    let size = this.data.length;
    while (size <= n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.data);
    this.data = bigger;
  }

  get(i: number): number {
    return i < this.data.length ? this.data[i]! : 0;
  }

  /** Adds 1, saturating at 255. */
  bump(i: number): number {
    this.ensure(i);
    const v = this.data[i]!;
    if (v < 255) this.data[i] = v + 1;
    return v + 1;
  }
}

/**
 * The bookkeeping of one chaos run, fed by both sides: the producer registers each sequence
 * number before sending it and reports every attempt and the final outcome; the consumer hands
 * over each record it reads. Pure (no I/O); `result()` can be taken at any time.
 */
export class ChaosChecker {
  readonly runId: bigint;
  private readonly flags = new ByteColumn();
  private readonly attempts = new ByteColumn();
  private readonly ambiguous = new ByteColumn();
  private readonly seen = new ByteColumn();
  private produced = 0;
  private ackedCount = 0;
  private failedCount = 0;
  private settled = 0;
  private missingAcked = 0;
  private consumed = 0;
  private unique = 0;
  private foreign = 0;
  private maxSeen = 0;
  private lastOffset: bigint | null = null;
  private offsetErrors = 0;
  private parseErrors = 0;
  private readonly parseSamples: Array<{ offset: string; reason: string }> = [];
  private unexpected = 0;
  private ambiguousAttempts = 0;

  constructor(runId: bigint) {
    this.runId = runId;
  }

  /** Registers the next sequence number (1, 2, ...) before it is sent. */
  sent(seq: number): void {
    if (seq !== this.produced + 1) throw new RangeError(`chaos sequence numbers are registered in order: expected ${this.produced + 1}, got ${seq}`);
    this.produced = seq;
    this.flags.ensure(seq);
    this.flags.data[seq] = SENT;
  }

  /** One ingest attempt of `seq` ended. */
  attempt(seq: number, outcome: AttemptOutcome): void {
    if (!this.known(seq)) return;
    this.attempts.bump(seq);
    if (outcome === "ambiguous") {
      this.ambiguous.bump(seq);
      this.ambiguousAttempts++;
    }
  }

  acked(seq: number): void {
    if (!this.known(seq) || this.flags.get(seq) & (ACKED | FAILED)) return;
    this.flags.data[seq] = this.flags.get(seq) | ACKED;
    this.ackedCount++;
    this.settled++;
    if (this.seen.get(seq) === 0) this.missingAcked++;
  }

  failed(seq: number): void {
    if (!this.known(seq) || this.flags.get(seq) & (ACKED | FAILED)) return;
    this.flags.data[seq] = this.flags.get(seq) | FAILED;
    this.failedCount++;
    this.settled++;
  }

  /** Acked records not read back yet. */
  get missing(): number {
    return this.missingAcked;
  }

  get progress(): { produced: number; acked: number; failed: number; consumed: number; errors: number } {
    return {
      produced: this.produced,
      acked: this.ackedCount,
      failed: this.failedCount,
      consumed: this.consumed,
      errors: this.parseErrors + this.offsetErrors + this.unexpected,
    };
  }

  /** A record read back at `offset`. */
  observe(offset: bigint, value: Uint8Array): void {
    if (this.lastOffset !== null && offset <= this.lastOffset) this.offsetErrors++;
    this.lastOffset = offset;
    const d = decodeChaosPayload(value);
    if (!d.ok) {
      this.parseError(offset, d.reason);
      return;
    }
    if (d.runId !== this.runId) {
      this.foreign++;
      return;
    }
    this.consumed++;
    if (d.seq < 1n || d.seq > BigInt(this.produced)) {
      this.unexpected++;
      return;
    }
    const seq = Number(d.seq);
    const copies = this.seen.bump(seq);
    if (copies > 1) return; // a duplicate: classified in result()
    this.unique++;
    if (this.flags.get(seq) & ACKED) this.missingAcked--;
    if (seq < this.maxSeen) this.flags.data[seq] = this.flags.get(seq) | OUT_OF_ORDER;
    else this.maxSeen = seq;
  }

  /** Data at `offset` that could not be split into records (counted as `count` parse errors). */
  parseError(offset: bigint, reason: string, count = 1): void {
    this.parseErrors += count;
    if (this.parseSamples.length < 5) this.parseSamples.push({ offset: offset.toString(), reason });
  }

  result(): ChaosCheckResult {
    const gapSeqs: number[] = [];
    let gaps = 0;
    let duplicates = 0;
    let dupAfterRetry = 0;
    let orderErrors = 0;
    let reordered = 0;
    let storedAfterRefusal = 0;
    let failedButStored = 0;
    let retried = 0;
    for (let seq = 1; seq <= this.produced; seq++) {
      const f = this.flags.get(seq);
      const copies = this.seen.get(seq);
      const attempts = this.attempts.get(seq);
      if (attempts > 1) retried++;
      if (copies === 0) {
        if (f & ACKED) {
          gaps++;
          if (gapSeqs.length < 20) gapSeqs.push(seq);
        }
        continue;
      }
      if (f & FAILED) failedButStored++;
      // Attempts that may have stored a copy: those with an unknown outcome, and the acked one.
      const possible = this.ambiguous.get(seq) + (f & ACKED ? 1 : 0);
      const settled = (f & (ACKED | FAILED)) !== 0;
      if (possible === 0 && settled) storedAfterRefusal++;
      if (copies > 1) {
        const extra = copies - 1;
        duplicates += extra;
        dupAfterRetry += Math.min(extra, Math.max(0, possible - 1));
      }
      if (f & OUT_OF_ORDER) {
        if (attempts > 1) reordered++;
        else orderErrors++;
      }
    }
    return {
      produced: this.produced,
      acked: this.ackedCount,
      failed: this.failedCount,
      pending: this.produced - this.settled,
      consumed: this.consumed,
      unique_consumed: this.unique,
      foreign_records: this.foreign,
      gaps,
      gap_seqs: gapSeqs,
      duplicates,
      duplicates_after_retry: dupAfterRetry,
      duplicates_unexplained: duplicates - dupAfterRetry,
      order_errors: orderErrors,
      reordered_after_retry: reordered,
      offset_errors: this.offsetErrors,
      parse_errors: this.parseErrors,
      parse_error_samples: [...this.parseSamples],
      unexpected_seqs: this.unexpected,
      stored_after_refusal: storedAfterRefusal,
      failed_but_stored: failedButStored,
      retried_records: retried,
      ambiguous_attempts: this.ambiguousAttempts,
    };
  }

  private known(seq: number): boolean {
    return Number.isInteger(seq) && seq >= 1 && seq <= this.produced;
  }
}

/** The problems that fail a run (empty = PASS). */
export function chaosProblems(r: ChaosCheckResult): string[] {
  const p: string[] = [];
  if (r.acked === 0) p.push("no record was acknowledged");
  if (r.gaps > 0) p.push(`${r.gaps} acknowledged record(s) missing (first seqs: ${r.gap_seqs.join(", ")})`);
  if (r.duplicates_unexplained > 0) p.push(`${r.duplicates_unexplained} duplicate(s) not explained by a retry`);
  if (r.order_errors > 0) p.push(`${r.order_errors} record(s) out of order`);
  if (r.offset_errors > 0) p.push(`${r.offset_errors} offset(s) not increasing`);
  if (r.parse_errors > 0) p.push(`${r.parse_errors} record(s) failed to parse`);
  if (r.unexpected_seqs > 0) p.push(`${r.unexpected_seqs} record(s) with a sequence number never produced`);
  if (r.stored_after_refusal > 0) p.push(`${r.stored_after_refusal} record(s) stored although the server refused every attempt`);
  return p;
}

/** One entry of a producer log for `checkChaosStream`. */
export interface ProducedRecord {
  seq: number;
  /** Outcome of each attempt, in order. */
  attempts: AttemptOutcome[];
  /** Final outcome of the send; default: acked when the last attempt was. */
  final?: "acked" | "failed" | "pending";
}

/** Runs the checker over a complete producer log and a consumed stream (pure; for tests and tools). */
export function checkChaosStream(runId: bigint, produced: ProducedRecord[], consumed: Array<{ offset: bigint; value: Uint8Array }>): ChaosCheckResult {
  const c = new ChaosChecker(runId);
  const sorted = [...produced].sort((a, b) => a.seq - b.seq);
  for (const p of sorted) c.sent(p.seq);
  for (const p of sorted) {
    for (const a of p.attempts) c.attempt(p.seq, a);
    const final = p.final ?? (p.attempts[p.attempts.length - 1] === "acked" ? "acked" : "failed");
    if (final === "acked") c.acked(p.seq);
    else if (final === "failed") c.failed(p.seq);
  }
  for (const r of consumed) c.observe(r.offset, r.value);
  return c.result();
}
