/**
 * The hostile-client harness of the security suite (src/hostile.test.ts) and of
 * bench/hostile-bench.mjs: random and mutated LWP frames over many connections, slowloris
 * connections, a connection flood, oversized frames and a reader that never reads, against a
 * running server, while a well-behaved client produces and fetches and its ack latency is
 * measured. Not used by the server itself.
 */
import { readdirSync, statSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { FrameDecoder, HEADER_SIZE, decodeMessage, encodeMessage, type ClientMessage, type LwpMessage } from "@lance/protocol";
import { createRng } from "@lance/raft";

export interface AttackOptions {
  port: number;
  host?: string;
  /** Random and mutated frames to send, all connections together. */
  frames: number;
  /** Fuzzing connections open at a time. */
  workers: number;
  /** Most fuzzing connections authenticate with this first (null: none do). */
  token: string | null;
  /** Topic ids frames aim at (random ids are mixed in). */
  topicIds: number[];
  /** Topic the never-reading reader fetches, and how many fetches it pipelines (0: no such reader); it stays until the rest is over. */
  readerTopicId: number | null;
  readerFetches: number;
  /** The reader authenticates with this (null: it does not). */
  readerToken: string | null;
  /** Connections that send a byte at a time and never finish a frame. */
  slowloris: number;
  /** Connections opened at once, beyond max_connections, after floodDelayMs (500), held floodHoldMs (1000). */
  flood: number;
  floodDelayMs?: number;
  floodHoldMs?: number;
  /** Payload length an oversized frame claims (more than max_payload_size). */
  oversizeLength: number;
  seed: number;
}

export interface AttackReport {
  framesSent: number;
  connections: number;
  /** Fuzzing connections the server closed (after an error frame, a limit, or a timeout). */
  closedByServer: number;
  /** Reply frames the fuzzing connections got back. */
  repliesReceived: number;
  oversizedSent: number;
  slowlorisClosedByServer: number;
  floodOpened: number;
  floodClosedByServer: number;
  durationMs: number;
}

const CLIENT_TYPES = [
  "ingest", "ingest", "ingest", "fetch", "fetch", "keepalive", "createTopic", "createTopicWithRetention", "deleteTopic", "listTopics",
  "getTopic", "setRetention", "getClusterStatus", "authenticate", "subscribe", "unsubscribe", "commitOffset", "offsetForTime",
] as const;

/** One random client message, aimed at `topicIds` most of the time. */
function randomMessage(rnd: () => number, topicIds: number[]): ClientMessage {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const int = (max: number) => Math.floor(rnd() * max);
  const u64 = () => (rnd() < 0.1 ? 2n ** 64n - 1n : BigInt(int(2 ** 31)));
  const topicId = rnd() < 0.8 && topicIds.length ? pick(topicIds) : int(2 ** 32);
  const bytes = (max: number) => {
    const b = Buffer.alloc(int(max) + (rnd() < 0.9 ? 1 : 0));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  };
  const name = () => (rnd() < 0.7 ? `h-${int(50)}` : bytes(40).toString("latin1"));
  switch (pick(CLIENT_TYPES)) {
    case "ingest":
      return { type: "ingest", topicId, batchId: u64(), timestampNs: u64(), recordCount: rnd() < 0.8 ? 1 + int(4) : int(2 ** 32), compressed: rnd() < 0.1, payload: bytes(2048) };
    case "fetch":
      return { type: "fetch", topicId, startOffset: rnd() < 0.7 ? BigInt(int(100)) : u64(), maxBytes: rnd() < 0.7 ? int(1 << 16) : int(2 ** 32) };
    case "keepalive":
      return { type: "keepalive" };
    case "createTopic":
      return { type: "createTopic", name: name() };
    case "createTopicWithRetention":
      return { type: "createTopicWithRetention", name: name(), maxAgeSecs: u64(), maxBytes: u64() };
    case "deleteTopic":
      return { type: "deleteTopic", topicId };
    case "listTopics":
      return { type: "listTopics" };
    case "getTopic":
      return { type: "getTopic", topicId };
    case "setRetention":
      return { type: "setRetention", topicId, maxAgeSecs: u64(), maxBytes: u64() };
    case "getClusterStatus":
      return { type: "getClusterStatus" };
    case "authenticate":
      return { type: "authenticate", token: bytes(64) };
    case "subscribe":
      return { type: "subscribe", topicId, startOffset: u64(), maxBatchBytes: int(2 ** 32), consumerId: u64() };
    case "unsubscribe":
      return { type: "unsubscribe", topicId, consumerId: u64() };
    case "commitOffset":
      return { type: "commitOffset", topicId, consumerId: u64(), offset: u64() };
    case "offsetForTime":
      return { type: "offsetForTime", topicId, timestampNs: u64() };
  }
}

/** A frame, valid or damaged: bit flips, a cut, a lying length, garbage, a wrong type or magic. */
export function hostileFrame(rnd: () => number, topicIds: number[], oversizeLength: number, fatal: boolean): { bytes: Buffer; oversized: boolean } {
  const frame = Buffer.from(encodeMessage(randomMessage(rnd, topicIds)));
  const int = (max: number) => Math.floor(rnd() * max);
  // Survivable: valid frames, and header fields outside the header CRC changed.
  // Fatal (the server answers an error and closes): damaged bytes, cuts, lies about the length.
  const r = fatal ? 0.45 + rnd() * 0.55 : rnd() * 0.45;
  if (r < 0.3) return { bytes: frame, oversized: false };
  if (r < 0.45) {
    // Topic id, record count, batch id: a valid frame that says something else.
    frame.writeUInt32LE(topicIds.length && rnd() < 0.5 ? topicIds[int(topicIds.length)]! : int(2 ** 32), 40);
    if (rnd() < 0.5) frame.writeUInt32LE(int(2 ** 32), 28);
    return { bytes: frame, oversized: false };
  }
  if (r < 0.5) {
    frame[5] = int(256); // flags (message type), covered by the header CRC
    return { bytes: frame, oversized: false };
  }
  if (r < 0.6) {
    for (let i = 1 + int(3); i > 0; i--) frame[int(frame.length)]! ^= 1 + int(255);
    return { bytes: frame, oversized: false };
  }
  if (r < 0.7) return { bytes: frame.subarray(0, int(frame.length)), oversized: false };
  if (r < 0.82) {
    frame.writeUInt32LE(oversizeLength + int(1 << 20), 32);
    return { bytes: frame, oversized: true };
  }
  if (r < 0.92) {
    const garbage = Buffer.alloc(1 + int(300));
    for (let i = 0; i < garbage.length; i++) garbage[i] = int(256);
    return { bytes: garbage, oversized: false };
  }
  frame.writeUInt32LE(frame.readUInt32LE(32) + 1 + int(64), 32); // claims more than it sends
  return { bytes: frame, oversized: false };
}

function open(port: number, host: string): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once("connect", () => resolve(s));
    s.once("error", () => resolve(null));
    s.on("error", () => undefined);
  });
}

/** Resolves true when the server closes `s`, false after `ms` (then `s` is destroyed). */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, ms);
    s.once("close", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Runs every attack at once; resolves when all are over. */
export async function runAttack(o: AttackOptions): Promise<AttackReport> {
  const host = o.host ?? "127.0.0.1";
  const t0 = Date.now();
  const report: AttackReport = {
    framesSent: 0, connections: 0, closedByServer: 0, repliesReceived: 0, oversizedSent: 0,
    slowlorisClosedByServer: 0, floodOpened: 0, floodClosedByServer: 0, durationMs: 0,
  };
  // Seeded: the same seed gives the same attack.
  const rnd = createRng(o.seed);
  const auth = o.token === null ? null : Buffer.from(encodeMessage({ type: "authenticate", token: Buffer.from(o.token) }));

  const fuzzWorker = async () => {
    while (report.framesSent < o.frames) {
      const s = await open(o.port, host);
      if (!s) continue;
      report.connections++;
      const replies = new FrameDecoder({ maxPayloadLength: 64 * 1024 * 1024 });
      s.on("data", (chunk: Buffer) => {
        try {
          for (const _ of replies.push(chunk)) report.repliesReceived++;
        } catch {
          s.destroy();
        }
      });
      // Up to 40 frames the server can survive, then (every other connection) one it cannot.
      const n = 1 + Math.floor(rnd() * 40);
      const fatalLast = rnd() < 0.5;
      const parts: Buffer[] = [];
      if (auth && rnd() < 0.85) parts.push(auth);
      for (let i = 0; i < n && report.framesSent < o.frames; i++) {
        const f = hostileFrame(rnd, o.topicIds, o.oversizeLength, fatalLast && i === n - 1);
        parts.push(f.bytes);
        report.framesSent++;
        if (f.oversized) report.oversizedSent++;
      }
      const all = Buffer.concat(parts);
      if (rnd() < 0.5) s.write(all);
      else {
        // Split anywhere, including inside headers.
        for (let at = 0; at < all.length; ) {
          const step = 1 + Math.floor(rnd() * 200);
          s.write(all.subarray(at, at + step));
          at += step;
        }
      }
      if (rnd() < 0.5) s.end();
      if (await closedWithin(s, 150)) report.closedByServer++;
    }
  };

  const slowloris = async () => {
    const s = await open(o.port, host);
    if (!s) return;
    const frame = Buffer.from(encodeMessage({ type: "keepalive" }));
    let i = 0;
    const timer = setInterval(() => {
      if (i < HEADER_SIZE - 1) s.write(frame.subarray(i, ++i));
    }, 50);
    const closed = await closedWithin(s, 30_000);
    clearInterval(timer);
    if (closed) report.slowlorisClosedByServer++;
  };

  const flood = async () => {
    await new Promise((r) => setTimeout(r, o.floodDelayMs ?? 500));
    const sockets = (await Promise.all(Array.from({ length: o.flood }, () => open(o.port, host)))).filter((s): s is Socket => s !== null);
    report.floodOpened = sockets.length;
    const keepalive = Buffer.from(encodeMessage({ type: "keepalive" }));
    for (const s of sockets) {
      s.on("data", () => undefined);
      s.write(keepalive);
    }
    const closed = await Promise.all(sockets.map((s) => closedWithin(s, o.floodHoldMs ?? 1_000)));
    report.floodClosedByServer = closed.filter(Boolean).length;
  };

  let othersDone: () => void = () => undefined;
  const othersOver = new Promise<void>((r) => (othersDone = r));
  /** Pipelines fetches and never reads a reply; connected first, held open until the other attacks are over. */
  const startReader = async (): Promise<{ done: Promise<void> }> => {
    if (o.readerTopicId === null || o.readerFetches === 0) return { done: Promise.resolve() };
    const s = await open(o.port, host);
    if (!s) return { done: Promise.resolve() };
    s.pause();
    const fetch = Buffer.from(encodeMessage({ type: "fetch", topicId: o.readerTopicId, startOffset: 0n, maxBytes: 16 * 1024 * 1024 }));
    const readerAuth = o.readerToken === null ? [] : [Buffer.from(encodeMessage({ type: "authenticate", token: Buffer.from(o.readerToken) }))];
    s.write(Buffer.concat([...readerAuth, ...Array.from({ length: o.readerFetches }, () => fetch)]));
    return { done: othersOver.then(() => void s.destroy()) };
  };

  const reader = await startReader();
  await Promise.all([...Array.from({ length: o.workers }, fuzzWorker), ...Array.from({ length: o.slowloris }, slowloris), flood()]);
  othersDone();
  await reader.done;
  report.durationMs = Date.now() - t0;
  return report;
}

/** A well-behaved client: one connection, requests in order, replies awaited. */
export class GoodClient {
  private readonly decoder = new FrameDecoder();
  private waiters: Array<(m: LwpMessage) => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk) => {
      for (const f of this.decoder.push(chunk)) this.waiters.shift()?.(decodeMessage(f));
    });
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<GoodClient> {
    const s = await open(port, host);
    if (!s) throw new Error(`cannot connect to ${host}:${port}`);
    s.setNoDelay(true);
    return new GoodClient(s);
  }

  request(msg: ClientMessage, timeoutMs = 30_000): Promise<LwpMessage> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${msg.type} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.socket.write(encodeMessage(msg));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface GoodRun {
  /** Ack latencies in ms, in order. */
  latencies: number[];
  /** Payloads acked, in order. */
  acked: string[];
  fetches: number;
}

/**
 * Produces one record per ingest (`good-<n>;`) and waits for each ack, fetching the newest
 * record every 10th time, until `until()` says stop (checked between requests).
 */
export async function produceWhile(c: GoodClient, topicId: number, until: () => boolean, run: GoodRun = { latencies: [], acked: [], fetches: 0 }): Promise<GoodRun> {
  while (!until()) {
    const payload = `good-${run.acked.length};`;
    const t = process.hrtime.bigint();
    const r = await c.request({ type: "ingest", topicId, batchId: BigInt(run.acked.length + 1), timestampNs: BigInt(Date.now()) * 1_000_000n, recordCount: 1, compressed: false, payload: Buffer.from(payload) });
    if (r.type !== "ack") throw new Error(`good client: ingest answered ${r.type}${r.type === "errorResponse" ? `: ${r.message}` : ""}`);
    run.latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    run.acked.push(payload);
    if (run.acked.length % 10 === 0) {
      const f = await c.request({ type: "fetch", topicId, startOffset: BigInt(run.acked.length - 1), maxBytes: 1024 });
      if (f.type !== "fetchResponse" || Buffer.from(f.data).toString() !== payload) throw new Error(`good client: fetch of its last record answered ${JSON.stringify(f.type)}`);
      run.fetches++;
    }
  }
  return run;
}

/** Everything stored in a topic, fetched from offset 0. */
export async function readAll(c: GoodClient, topicId: number): Promise<string> {
  let offset = 0n;
  let out = "";
  for (;;) {
    const f = await c.request({ type: "fetch", topicId, startOffset: offset, maxBytes: 1 << 20 });
    if (f.type !== "fetchResponse") throw new Error(`fetch answered ${f.type}`);
    if (f.data.byteLength === 0) return out;
    out += Buffer.from(f.data).toString("latin1");
    offset = f.nextOffset;
  }
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Every file and directory under `root` whose mode grants group write or anything to others. */
export function looseModes(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if ((st.mode & 0o027) !== 0) out.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(root);
  return out;
}
