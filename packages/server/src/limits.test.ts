import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Socket } from "node:net";
import pino from "pino";
import { encodeMessage } from "@lance/protocol";
import { createServer, type LanceServer } from "./server.js";
import { RawClient } from "./test-client.js";
import type { LimitsConfig } from "./limits.js";

const servers: LanceServer[] = [];
const closers: Array<() => void> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  for (const s of servers.splice(0)) {
    await s.stop();
    rmSync(s.config.dataDir, { recursive: true, force: true });
  }
});

async function start(limits: Partial<LimitsConfig>, extra: { maxInFlightPerConnection?: number; wal?: { groupCommitWindowMs: number } } = {}): Promise<LanceServer> {
  const s = createServer({ dataDir: mkdtempSync(join(tmpdir(), "lance-lim-")), listen: { host: "127.0.0.1", port: 0 }, logger: pino({ level: "silent" }) as never, limits, ...extra });
  await s.start();
  servers.push(s);
  return s;
}

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  closers.push(() => c.close());
  return c;
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
    s.on("error", () => undefined);
    closers.push(() => s.destroy());
  });
}

const closed = (s: Socket) => new Promise<number>((r) => {
  const t0 = Date.now();
  if (s.destroyed) return r(0);
  s.on("close", () => r(Date.now() - t0));
});

const limitCount = async (s: LanceServer, limit: string) => {
  const text = await s.metrics.registry.getSingleMetricAsString("lance_limit_events_total");
  return Number(new RegExp(`limit="${limit}"} (\\d+)`).exec(text)?.[1] ?? 0);
};

describe("per-client limits", () => {
  it("refuses connections beyond max_connections_per_address / max_connections with a clear error, while a good client keeps working", async () => {
    const s = await start({ maxConnectionsPerAddress: 3, maxConnections: 1000 });
    const port = s.address().port;
    const good = await client(port);
    expect(await good.request({ type: "createTopic", name: "t" })).toMatchObject({ type: "topicResponse" });
    const flood = await Promise.all(Array.from({ length: 2 }, () => client(port)));
    const over = await Promise.all(Array.from({ length: 20 }, () => client(port)));
    const replies = await Promise.all(over.map((c) => c.request({ type: "listTopics" })));
    for (const r of replies) expect(r).toEqual({ type: "errorResponse", message: "LIMIT: too many connections from 127.0.0.1 (max_connections_per_address = 3); try again later" });
    expect(await good.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
    expect(await limitCount(s, "max_connections_per_address")).toBe(20);
    // Slots are released on close.
    for (const c of flood) c.close();
    await new Promise((r) => setTimeout(r, 100));
    const later = await client(port);
    expect(await later.request({ type: "keepalive" })).toEqual({ type: "keepalive" });

    const total = await start({ maxConnections: 1 });
    const first = await client(total.address().port);
    const second = await client(total.address().port);
    expect(await second.request({ type: "keepalive" })).toEqual({ type: "errorResponse", message: "LIMIT: too many connections (max_connections = 1); try again later" });
    expect(await first.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
  });

  it("closes a slowloris connection (1 byte, then nothing) after the first-frame timeout; a good client is unaffected", async () => {
    const s = await start({ firstFrameTimeoutMs: 300 });
    const port = s.address().port;
    const slow = await rawSocket(port);
    slow.write(Uint8Array.of(0x4c));
    const silent = await rawSocket(port);
    const good = await client(port);
    expect(await good.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
    const [a, b] = await Promise.all([closed(slow), closed(silent)]);
    expect(a).toBeGreaterThan(150);
    expect(b).toBeGreaterThan(150);
    expect(await good.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
    expect(await limitCount(s, "first_frame_timeout")).toBe(2);
  });

  it("closes a connection idle for idle_timeout, not one that keeps sending requests", async () => {
    const s = await start({ idleTimeoutMs: 400 });
    const port = s.address().port;
    const idle = await client(port);
    expect(await idle.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
    const busy = await client(port);
    const ticker = setInterval(() => busy.send({ type: "keepalive" }), 100);
    // One frame, then a byte at a time of a frame that never completes: not activity.
    const dribbler = await rawSocket(port);
    dribbler.write(encodeMessage({ type: "keepalive" }));
    const partial = encodeMessage({ type: "listTopics" });
    let sent = 0;
    const dribble = setInterval(() => dribbler.write(partial.subarray(sent, ++sent)), 100);
    await Promise.all([closed(idle.socket), closed(dribbler)]);
    clearInterval(ticker);
    clearInterval(dribble);
    expect(busy.closed).toBe(false);
    expect(await limitCount(s, "idle_timeout")).toBe(2);
  });

  it("stops reading a connection whose unanswered request bytes reach max_in_flight_bytes_per_connection", async () => {
    // Acks held back by a 300 ms group-commit window, so the ingests pile up unanswered
    // whatever the machine's speed (without it the test raced the server's fsyncs).
    const s = await start({ maxInFlightBytesPerConnection: 16 * 1024 * 1024 + 44 }, { wal: { groupCommitWindowMs: 300 } });
    const c = await client(s.address().port);
    const created = await c.request({ type: "createTopic", name: "big" });
    expect(created.type).toBe("topicResponse");
    const payload = Buffer.alloc(6 * 1024 * 1024, 7);
    for (let i = 0; i < 8; i++) c.send({ type: "ingest", batchId: BigInt(i + 1), timestampNs: 1n, recordCount: 1, topicId: 1, payload });
    for (let i = 0; i < 8; i++) expect(await c.next(20_000)).toEqual({ type: "ack", batchId: BigInt(i + 1) });
    expect(await limitCount(s, "in_flight_bytes")).toBeGreaterThan(0);
  });

  it("bounds the replies of a reader that never reads (max_send_buffer_bytes), closes it after send_stall_timeout_ms; a good client keeps getting answers", async () => {
    const LIMIT = 1024 * 1024;
    const s = await start({ maxSendBufferBytes: LIMIT, sendStallTimeoutMs: 1500 });
    const good = await client(s.address().port);
    const created = await good.request({ type: "createTopic", name: "wide" });
    expect(created.type).toBe("topicResponse");
    const topicId = (JSON.parse((created as { json: string }).json) as { id: number }).id;
    for (let i = 0; i < 8; i++) {
      expect(await good.request({ type: "ingest", batchId: BigInt(i), timestampNs: 1n, recordCount: 1, topicId, payload: Buffer.alloc(128 * 1024, i) })).toMatchObject({ type: "ack" });
    }
    const readsBefore = Number(/lance_reads_total (\d+)/.exec(await s.metrics.registry.getSingleMetricAsString("lance_reads_total"))?.[1] ?? 0);

    // 4,000 pipelined fetches of the whole topic (1 MiB each): unbounded, ~4 GiB of replies.
    const hostile = await rawSocket(s.address().port);
    hostile.pause();
    const fetch = Buffer.from(encodeMessage({ type: "fetch", topicId, startOffset: 0n, maxBytes: LIMIT }));
    hostile.write(Buffer.concat(Array.from({ length: 4000 }, () => fetch)));

    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const t0 = Date.now();
    let answered = 0;
    while (Date.now() - t0 < 1000) {
      const r = await good.request({ type: "fetch", topicId, startOffset: 7n, maxBytes: 256 * 1024 });
      expect(r).toMatchObject({ type: "fetchResponse", recordCount: 1 });
      answered++;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    expect(answered).toBeGreaterThan(5);
    expect(await limitCount(s, "send_buffer_paused")).toBeGreaterThan(0);
    expect(await limitCount(s, "send_buffer")).toBe(0);
    // Closed by the server (the paused client socket itself does not notice until it reads).
    for (let i = 0; i < 100 && (await limitCount(s, "send_buffer")) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await limitCount(s, "send_buffer")).toBe(1);
    const reads = Number(/lance_reads_total (\d+)/.exec(await s.metrics.registry.getSingleMetricAsString("lance_reads_total"))?.[1] ?? 0) - readsBefore - answered;
    // The server took only the fetches whose replies fit the limit plus what the kernel buffers.
    console.log(`never-reading client: ${reads} of 4000 fetches served before it was closed; arrayBuffers peak +${(peak / 1048576).toFixed(1)} MiB`);
    expect(reads).toBeLessThan(100);
    expect(peak).toBeLessThan(128 * 1024 * 1024);
    expect(await good.request({ type: "fetch", topicId, startOffset: 0n, maxBytes: 16 })).toMatchObject({ type: "fetchResponse" });
  });

  it("rejects unusable limits at startup", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-lim-"));
    const code = (limits: Partial<LimitsConfig>) => {
      try {
        createServer({ dataDir, limits, logger: pino({ level: "silent" }) as never });
        return null;
      } catch (err) {
        return (err as { code?: string; message: string }).code;
      }
    };
    expect(code({ maxConnections: 0 })).toBe("LNC_LIMIT_CONFIG");
    expect(code({ maxInFlightBytesPerConnection: 1024 })).toBe("LNC_LIMIT_CONFIG");
    expect(code({ idleTimeoutMs: 0 })).toBeNull();
    expect(code({ maxSendBufferBytes: 0 })).toBe("LNC_LIMIT_CONFIG");
    expect(code({ sendStallTimeoutMs: 0 })).toBe("LNC_LIMIT_CONFIG");
  });
});

