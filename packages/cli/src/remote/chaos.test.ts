import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { ClientError } from "@lance/client";
import type { CommandIO } from "../io.js";
import { attemptOutcome, checkChaosStream, chaosProblems, ChaosChecker, type ProducedRecord } from "./chaos-checker.js";
import { CHAOS_HEADER_SIZE, decodeChaosPayload, encodeChaosPayload } from "./chaos-payload.js";
import { renderChaos, runChaos, runChaosCommand, CHAOS_DEFAULTS, type ChaosOptions } from "./chaos.js";

const RUN = 0x1234_5678_9abc_def0n;

/** A record of `RUN` with sequence number `seq`. */
const rec = (seq: number, size = 64) => encodeChaosPayload(RUN, BigInt(seq), size, 1n);

/** Consumed stream: the given seqs at offsets 0, 1, 2, ... */
const stream = (seqs: number[]) => seqs.map((s, i) => ({ offset: BigInt(i), value: rec(s) }));

/** Producer log: seqs 1..n acked on the first attempt. */
const ackedLog = (n: number): ProducedRecord[] => Array.from({ length: n }, (_, i) => ({ seq: i + 1, attempts: ["acked"] }));

describe("chaos payload", () => {
  it("round-trips and is self-checking", () => {
    const v = encodeChaosPayload(RUN, 2n ** 64n - 1n, 100, 42n);
    expect(v.byteLength).toBe(100);
    expect(decodeChaosPayload(v)).toEqual({ ok: true, runId: RUN, seq: 2n ** 64n - 1n, tsMicros: 42n, fillerLength: 100 - CHAOS_HEADER_SIZE });
    expect(decodeChaosPayload(encodeChaosPayload(RUN, 7n, CHAOS_HEADER_SIZE))).toMatchObject({ ok: true, seq: 7n, fillerLength: 0 });
    const flipped = v.slice();
    flipped[80] = flipped[80]! ^ 1;
    expect(decodeChaosPayload(flipped)).toEqual({ ok: false, reason: "CRC mismatch" });
    const seqChanged = v.slice();
    seqChanged[16] = seqChanged[16]! ^ 1;
    expect(decodeChaosPayload(seqChanged)).toEqual({ ok: false, reason: "CRC mismatch" });
    expect(decodeChaosPayload(v.subarray(0, 99))).toMatchObject({ ok: false, reason: expect.stringMatching(/length mismatch/) });
    expect(decodeChaosPayload(new TextEncoder().encode("hello, not a chaos record at all, no no no"))).toMatchObject({ ok: false, reason: expect.stringMatching(/magic/) });
    expect(decodeChaosPayload(Uint8Array.of(1, 2))).toMatchObject({ ok: false, reason: expect.stringMatching(/shorter/) });
    expect(() => encodeChaosPayload(RUN, 1n, CHAOS_HEADER_SIZE - 1)).toThrow(RangeError);
  });

  it("any corruption of any byte is detected", () => {
    fc.assert(
      fc.property(fc.integer({ min: CHAOS_HEADER_SIZE, max: 300 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat(), fc.integer({ min: 1, max: 255 }), (size, seq, at, xor) => {
        const v = encodeChaosPayload(RUN, seq, size);
        expect(decodeChaosPayload(v)).toMatchObject({ ok: true, seq });
        const bad = v.slice();
        bad[at % size] = bad[at % size]! ^ xor;
        expect(decodeChaosPayload(bad).ok).toBe(false);
      }),
    );
  });
});

describe("chaos checker", () => {
  it("a stream equal to the acked sequence is clean (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 20 }), (n, foreign) => {
        // Records of another run, interleaved at the front, are skipped.
        const other = Array.from({ length: foreign }, (_, i) => ({ offset: BigInt(i), value: encodeChaosPayload(RUN + 1n, BigInt(i + 1), 48) }));
        const ours = stream(Array.from({ length: n }, (_, i) => i + 1)).map((r) => ({ ...r, offset: r.offset + BigInt(foreign) }));
        const r = checkChaosStream(RUN, ackedLog(n), [...other, ...ours]);
        expect(chaosProblems(r)).toEqual([]);
        expect(r).toMatchObject({ produced: n, acked: n, consumed: n, unique_consumed: n, foreign_records: foreign, gaps: 0, duplicates: 0, order_errors: 0, parse_errors: 0 });
      }),
    );
  });

  it("gaps: acked records never read", () => {
    const r = checkChaosStream(RUN, ackedLog(10), stream([1, 2, 4, 5, 6, 9]));
    expect(r.gaps).toBe(4);
    expect(r.gap_seqs).toEqual([3, 7, 8, 10]);
    expect(chaosProblems(r)).toEqual([expect.stringMatching(/4 acknowledged record\(s\) missing \(first seqs: 3, 7, 8, 10\)/)]);
    const many = checkChaosStream(RUN, ackedLog(100), stream([1]));
    expect(many.gaps).toBe(99);
    expect(many.gap_seqs).toHaveLength(20);
  });

  it("a failed (or still pending) send missing is not a gap; a failed one stored is allowed", () => {
    const log: ProducedRecord[] = [
      { seq: 1, attempts: ["acked"] },
      { seq: 2, attempts: ["ambiguous", "ambiguous"] },
      { seq: 3, attempts: ["ambiguous"], final: "failed" },
      { seq: 4, attempts: [], final: "pending" },
      { seq: 5, attempts: ["acked"] },
    ];
    const r = checkChaosStream(RUN, log, stream([1, 3, 5]));
    expect(r).toMatchObject({ acked: 2, failed: 2, pending: 1, gaps: 0, failed_but_stored: 1, ambiguous_attempts: 3 });
    expect(chaosProblems(r)).toEqual([]);
  });

  it("duplicates: explained by an ambiguous first attempt, or unexplained", () => {
    const log: ProducedRecord[] = [
      { seq: 1, attempts: ["acked"] },
      { seq: 2, attempts: ["ambiguous", "acked"] }, // lost reply, retried: two copies possible
      { seq: 3, attempts: ["refused", "acked"] }, // NOT_LEADER then acked: one copy only
      { seq: 4, attempts: ["acked"] },
    ];
    const r = checkChaosStream(RUN, log, stream([1, 2, 2, 3, 3, 4, 4, 4]));
    expect(r).toMatchObject({ duplicates: 4, duplicates_after_retry: 1, duplicates_unexplained: 3, order_errors: 0, gaps: 0, retried_records: 2 });
    expect(chaosProblems(r)).toEqual([expect.stringMatching(/3 duplicate\(s\) not explained/)]);
    // A third copy after one lost reply is not explained either.
    expect(checkChaosStream(RUN, log, stream([1, 2, 2, 2, 3, 4]))).toMatchObject({ duplicates: 2, duplicates_after_retry: 1, duplicates_unexplained: 1 });
    // A duplicate of a seq seen long before is a duplicate, not an order error.
    expect(checkChaosStream(RUN, log, stream([1, 2, 3, 4, 2]))).toMatchObject({ duplicates: 1, duplicates_after_retry: 1, order_errors: 0 });
  });

  it("order errors: a lower seq after a higher one, unless a retry explains it", () => {
    const r = checkChaosStream(RUN, ackedLog(6), stream([1, 3, 2, 4, 6, 5]));
    expect(r).toMatchObject({ order_errors: 2, reordered_after_retry: 0, gaps: 0, duplicates: 0 });
    expect(chaosProblems(r)).toEqual(["2 record(s) out of order"]);
    const log = ackedLog(3);
    log[1] = { seq: 2, attempts: ["refused", "acked"] };
    expect(checkChaosStream(RUN, log, stream([1, 3, 2]))).toMatchObject({ order_errors: 0, reordered_after_retry: 1 });
  });

  it("parse errors: a corrupted payload is counted and the rest still checked", () => {
    const s = stream([1, 2, 3, 4]);
    const bad = s[1]!.value.slice();
    bad[50] = bad[50]! ^ 0xff;
    s[1] = { offset: 1n, value: bad };
    const r = checkChaosStream(RUN, ackedLog(4), s);
    expect(r).toMatchObject({ parse_errors: 1, gaps: 1, gap_seqs: [2] });
    expect(r.parse_error_samples).toEqual([{ offset: "1", reason: "CRC mismatch" }]);
    expect(chaosProblems(r)).toEqual([expect.stringMatching(/missing/), "1 record(s) failed to parse"]);
  });

  it("offsets must increase; unknown seqs and records stored after a refusal are flagged", () => {
    const r = checkChaosStream(RUN, ackedLog(3), [
      { offset: 5n, value: rec(1) },
      { offset: 5n, value: rec(2) },
      { offset: 6n, value: rec(3) },
      { offset: 7n, value: rec(9) },
    ]);
    expect(r).toMatchObject({ offset_errors: 1, unexpected_seqs: 1, gaps: 0 });
    const refused = checkChaosStream(RUN, [{ seq: 1, attempts: ["acked"] }, { seq: 2, attempts: ["refused"], final: "failed" }], stream([1, 2]));
    expect(refused.stored_after_refusal).toBe(1);
  });

  it("tracks acked records not yet read while running", () => {
    const c = new ChaosChecker(RUN);
    c.sent(1);
    c.sent(2);
    c.observe(0n, rec(1)); // read before the ack arrived
    c.acked(1);
    c.acked(2);
    expect(c.missing).toBe(1);
    c.observe(1n, rec(2));
    expect(c.missing).toBe(0);
    expect(() => c.sent(5)).toThrow(/in order/);
  });

  it("classifies attempt errors: refused only when the server certainly wrote nothing", () => {
    expect(attemptOutcome(new ClientError("LNC_CLIENT_NOT_LEADER", "x"))).toBe("refused");
    expect(attemptOutcome(new ClientError("LNC_CLIENT_BACKPRESSURE", "x"))).toBe("refused");
    expect(attemptOutcome(new ClientError("LNC_CLIENT_CONNECT_FAILED", "x"))).toBe("refused");
    expect(attemptOutcome(new ClientError("LNC_CLIENT_REQUEST_TIMEOUT", "x"))).toBe("ambiguous");
    expect(attemptOutcome(new ClientError("LNC_CLIENT_CONNECTION_CLOSED", "x"))).toBe("ambiguous");
    expect(attemptOutcome(new ClientError("LNC_CLIENT_NO_QUORUM", "x"))).toBe("ambiguous");
    expect(attemptOutcome(new Error("?"))).toBe("ambiguous");
  });
});

// ---- end to end against a real standalone server (packages/server, loaded from source) ----

interface TestServer {
  start(): Promise<void>;
  stop(): Promise<{ drained: boolean }>;
  address(): { host: string; port: number };
}
type CreateServer = (input: { dataDir: string; listen: { host: string; port: number }; logger: unknown; drainTimeoutMs?: number }) => TestServer;

/** A silent server logger; CHAOS_TEST_LOG=1 shows server errors and the restart run's report. */
const quiet = {
  info() {},
  warn() {},
  error(o: unknown) {
    if (process.env.CHAOS_TEST_LOG) console.error(o);
  },
  debug() {},
  child: () => quiet,
};
const dirs: string[] = [];
const running: TestServer[] = [];

/**
 * `createServer` of @lance/server. cli does not depend on the server, so it is loaded by path,
 * for this test only: from its build (turbo.json builds @lance/server before this package's
 * tests), or from source with CHAOS_TEST_SERVER=src.
 */
async function loadCreateServer(): Promise<CreateServer> {
  const entry = process.env.CHAOS_TEST_SERVER === "src" ? "../../../server/src/index.ts" : "../../../server/dist/index.js";
  const path = new URL(entry, import.meta.url).href;
  const mod = (await import(/* @vite-ignore */ path)) as { createServer: CreateServer };
  return mod.createServer;
}

async function startServer(dataDir: string, port = 0): Promise<TestServer> {
  const createServer = await loadCreateServer();
  const s = createServer({ dataDir, listen: { host: "127.0.0.1", port }, logger: quiet, drainTimeoutMs: 2_000 });
  await s.start();
  running.push(s);
  return s;
}

function silentIO(): CommandIO & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return { out: (t) => outs.push(t), err: (t) => errs.push(t), interactive: false, outs, errs };
}

afterEach(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function options(server: string, extra: Partial<ChaosOptions> = {}): ChaosOptions {
  return { ...CHAOS_DEFAULTS, servers: [server], topic: "chaos", create: true, rate: 200, duration: 2, drainTimeout: 10, requestTimeoutMs: 3_000, ...extra };
}

describe("lnc chaos against a standalone server", () => {
  it("a clean run: everything acked is read back once, in order", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-chaos-"));
    dirs.push(dataDir);
    const s = await startServer(dataDir);
    const server = `127.0.0.1:${s.address().port}`;
    const progress: number[] = [];
    const r = await runChaos(options(server, { size: 200 }), undefined, { onProgress: (p) => progress.push(p.acked) });
    expect(r.problems).toEqual([]);
    expect(r.result).toBe("PASS");
    expect(r.acked).toBeGreaterThan(200);
    expect(r).toMatchObject({ produced: r.acked, failed: 0, pending: 0, consumed: r.acked, unique_consumed: r.acked, gaps: 0, duplicates: 0, drained: true });
    expect(r.ack_latency_ms.p99).toBeGreaterThan(0);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(renderChaos(r)).toMatch(/Result: +PASS/);

    // A second run on the same topic skips the first run's records; the command prints JSON, exit 0.
    const io = silentIO();
    const code = await runChaosCommand({ ...options(server, { duration: 1 }), json: true }, io);
    expect(code).toBe(0);
    const report = JSON.parse(io.outs[0]!);
    expect(report).toMatchObject({ result: "PASS", foreign_records: r.acked, gaps: 0 });
  });

  it("keeps going across a server restart on the same port and loses nothing acked", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-chaos-"));
    dirs.push(dataDir);
    const first = await startServer(dataDir);
    const port = first.address().port;
    const done = runChaos(options(`127.0.0.1:${port}`, { duration: 4, rate: 200, drainTimeout: 20 }));
    await new Promise((r) => setTimeout(r, 1_200));
    await first.stop();
    running.splice(running.indexOf(first), 1);
    await new Promise((r) => setTimeout(r, 700));
    await startServer(dataDir, port);
    const r = await done;
    if (process.env.CHAOS_TEST_LOG) console.error(renderChaos(r));
    expect(r.problems).toEqual([]);
    expect(r.gaps).toBe(0);
    expect(r.duplicates_unexplained).toBe(0);
    expect(r.order_errors).toBe(0);
    expect(r.parse_errors).toBe(0);
    expect(r.drained).toBe(true);
    expect(r.retries).toBeGreaterThan(0);
    // Records sent after the restart were acked and read too.
    expect(r.acked).toBeGreaterThan(400);
  });

  it("the command refuses a missing topic without --create (exit 2 path: it throws)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-chaos-"));
    dirs.push(dataDir);
    const s = await startServer(dataDir);
    await expect(runChaos(options(`127.0.0.1:${s.address().port}`, { create: false, topic: "nope" }))).rejects.toMatchObject({ code: "LNC_CLIENT_TOPIC_NOT_FOUND" });
    await expect(runChaos(options(`127.0.0.1:${s.address().port}`, { size: 10 }))).rejects.toThrow(/--size/);
  });
});
