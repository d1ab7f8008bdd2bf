import { afterEach, describe, expect, it } from "vitest";
import { notLeaderText } from "@lance/protocol";
import { LanceClient } from "./client.js";
import { Producer } from "./producer.js";
import { MockLog, startMockServer, type MockServer } from "./test-mock-server.js";

const servers: MockServer[] = [];
const clients: LanceClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function mock(...args: Parameters<typeof startMockServer>): Promise<MockServer> {
  const s = await startMockServer(...args);
  servers.push(s);
  return s;
}

function client(server: string, maxAttempts = 6): LanceClient {
  const c = new LanceClient({ server, retry: { maxAttempts, baseDelayMs: 5, maxDelayMs: 20 }, requestTimeoutMs: 300 });
  clients.push(c);
  return c;
}

describe("LanceClient retries", () => {
  it("retries FORWARD_FAILED and NO_QUORUM replies on the same connection until the ack", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    let n = 0;
    const server = await mock((m) => {
      if (m.type === "ingest" && n++ < 2) return { type: "errorResponse", message: n === 1 ? "FORWARD_FAILED: Leader not ready" : "NO_QUORUM: FORWARD_FAILED: 1 of 3" };
      return log.handle(m);
    });
    const c = client(server.address);
    await c.call((conn) => conn.ingest(topic.id, Uint8Array.of(1), 1));
    expect(server.received.map((r) => r.message.type)).toEqual(["ingest", "ingest", "ingest"]);
    expect(server.connections).toBe(1);
    expect(log.topics.get(topic.id)!.end).toBe(1n);
  });

  it("does not retry a final error", async () => {
    const server = await mock(() => ({ type: "errorResponse", message: "READ_ONLY: server is in read_only mode; writes are rejected" }));
    const c = client(server.address);
    await expect(c.call((conn) => conn.ingest(1, Uint8Array.of(1), 1))).rejects.toMatchObject({ code: "LNC_CLIENT_READ_ONLY", retryable: false });
    expect(server.received).toHaveLength(1);
  });

  it("gives up after maxAttempts and throws the last error", async () => {
    const server = await mock(() => ({ type: "errorResponse", message: "FORWARD_FAILED: Leader address unknown" }));
    const c = client(server.address, 3);
    await expect(c.call((conn) => conn.ingest(1, Uint8Array.of(1), 1))).rejects.toMatchObject({ code: "LNC_CLIENT_FORWARD_FAILED" });
    expect(server.received).toHaveLength(3);
  });

  it("follows NOT_LEADER: redirect to host:port by reconnecting there", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    const leader = await mock((m) => log.handle(m));
    const follower = await mock(() => ({ type: "errorResponse", message: notLeaderText(leader.address) }));
    const retries: string[] = [];
    const c = new LanceClient({ server: follower.address, retry: { baseDelayMs: 5 }, onRetry: (r) => retries.push(r.error.code) });
    clients.push(c);
    const p = new Producer(c, { topicId: topic.id, lingerMs: 0 });
    await p.send("hello");
    expect(c.server).toBe(leader.address);
    expect(follower.received).toHaveLength(1);
    expect(leader.received.map((r) => r.message.type)).toEqual(["ingest"]);
    expect(retries).toEqual(["LNC_CLIENT_NOT_LEADER"]);
    // Later calls go straight to the leader.
    await p.send("again");
    expect(follower.received).toHaveLength(1);
  });

  it("retries NOT_LEADER: leader unknown with backoff on the same server", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    let n = 0;
    const server = await mock((m) => (n++ === 0 ? { type: "errorResponse", message: notLeaderText() } : log.handle(m)));
    const c = client(server.address);
    await c.call((conn) => conn.ingest(topic.id, Uint8Array.of(7), 1));
    expect(server.received).toHaveLength(2);
  });

  it("retries after backpressure without dropping the connection (nothing was written)", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    let n = 0;
    const server = await mock((m) => (m.type === "ingest" && n++ < 2 ? { type: "backpressure" } : log.handle(m)));
    const c = client(server.address);
    await c.call((conn) => conn.ingest(topic.id, Uint8Array.of(7), 1));
    expect(server.received).toHaveLength(3);
    expect(server.connections).toBe(1);
    expect(log.topics.get(topic.id)!.end).toBe(1n);
  });

  it("reconnects after a lost ack and resends: at-least-once, the record is stored twice", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    const server = await mock((m, ctx) => {
      const reply = log.handle(m);
      if (ctx.connection === 0) {
        ctx.socket.destroy(); // written, but the ack never leaves
        return null;
      }
      return reply;
    });
    const c = client(server.address);
    await c.call((conn) => conn.ingest(topic.id, Uint8Array.of(7), 1));
    expect(server.connections).toBe(2);
    expect(log.topics.get(topic.id)!.end).toBe(2n);
  });

  it("retries a request timeout on a new connection", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    const server = await mock((m, ctx) => (ctx.connection === 0 ? null : log.handle(m)));
    const c = client(server.address);
    const r = await c.call((conn) => conn.fetch(topic.id, 0n, 100));
    expect(r).toMatchObject({ kind: "data", nextOffset: 0n, recordCount: 0 });
    expect(server.connections).toBe(2);
  });

  it("fails with LNC_CLIENT_CLOSED once closed", async () => {
    const server = await mock((m) => new MockLog().handle(m));
    const c = client(server.address);
    c.close();
    await expect(c.call((conn) => conn.ping())).rejects.toMatchObject({ code: "LNC_CLIENT_CLOSED" });
  });
});

describe("LanceClient bootstrap list (servers)", () => {
  it("moves to the next address when one cannot be reached or has no quorum, and reports each ingest attempt", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    const dead = await mock(() => null);
    const deadAddress = dead.address;
    await dead.close();
    servers.splice(servers.indexOf(dead), 1);
    const minority = await mock(() => ({ type: "errorResponse", message: "NO_QUORUM: 1 of 3" }));
    const good = await mock((m) => log.handle(m));
    const c = new LanceClient({ servers: [deadAddress, minority.address, good.address], retry: { maxAttempts: 6, baseDelayMs: 5, maxDelayMs: 20 } });
    clients.push(c);
    expect(c.server).toBe(deadAddress);
    const attempts: Array<string | undefined> = [];
    const producer = new Producer(c, { topicId: topic.id, onIngestAttempt: (a) => attempts.push((a.error as { code?: string } | undefined)?.code) });
    await producer.send("x");
    expect(c.server).toBe(good.address);
    // The dead address never got an ingest (connect failed): only the NO_QUORUM reply and the ack are attempts.
    expect(attempts).toEqual(["LNC_CLIENT_NO_QUORUM", undefined]);
    expect(log.topics.get(topic.id)!.end).toBe(1n);
  });
});
