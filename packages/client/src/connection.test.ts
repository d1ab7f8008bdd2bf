import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { encodeMessage, type ClientMessage } from "@lance/protocol";
import { Connection } from "./connection.js";
import { ClientError, isClientError, serverError } from "./errors.js";
import { MockLog, startMockServer, type MockServer } from "./test-mock-server.js";

const servers: MockServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function mock(...args: Parameters<typeof startMockServer>): Promise<MockServer> {
  const s = await startMockServer(...args);
  servers.push(s);
  return s;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Connection", () => {
  it("matches pipelined replies to requests strictly in order, ingests and fetches mixed", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    // Answers arrive after random delays, but the server writes them in request order.
    const server = await mock(async (m) => {
      await delay(Math.random() * 5);
      return log.handle(m);
    });
    const conn = await Connection.connect(server.address, { maxInFlight: 8 });
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      work.push(conn.ingest(topic.id, Uint8Array.of(i), 1));
      work.push(conn.fetch(topic.id, BigInt(i), 1));
    }
    const results = await Promise.all(work);
    for (let i = 0; i < 40; i++) {
      const fetched = results[2 * i + 1] as { kind: string; data: Uint8Array; nextOffset: bigint };
      // The fetch right after ingest i sees record i: the replies were not mixed up.
      expect(fetched.kind).toBe("data");
      expect([...fetched.data]).toEqual([i]);
      expect(fetched.nextOffset).toBe(BigInt(i + 1));
    }
    const ids = server.received.flatMap((r) => (r.message.type === "ingest" ? [r.message.batchId] : []));
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
    conn.close();
  });

  it("never has more than maxInFlight requests unanswered", async () => {
    let maxSeen = 0;
    const server: MockServer = await mock(async () => {
      await delay(2);
      maxSeen = Math.max(maxSeen, server.received.length - server.replied);
      return { type: "keepalive" };
    });
    const conn = await Connection.connect(server.address, { maxInFlight: 3 });
    await Promise.all(Array.from({ length: 30 }, () => conn.ping()));
    expect(maxSeen).toBe(3);
    expect(server.received).toHaveLength(30);
    conn.close();
  });

  it("a reply that cannot answer the head request closes the connection and fails every pending request", async () => {
    const server = await mock((m) => (m.type === "fetch" ? { type: "topicResponse", json: "{}" } : { type: "keepalive" }));
    const conn = await Connection.connect(server.address);
    const [a, b] = [conn.fetch(1, 0n, 10), conn.ping()];
    b.catch(() => undefined);
    await expect(a).rejects.toMatchObject({ code: "LNC_CLIENT_UNEXPECTED_REPLY", retryable: true });
    await expect(b).rejects.toMatchObject({ code: "LNC_CLIENT_UNEXPECTED_REPLY" });
    expect(conn.open).toBe(false);
    await expect(conn.ping()).rejects.toBeInstanceOf(ClientError);
  });

  it("an ack with the wrong batch id is refused (FIFO broken)", async () => {
    const server = await mock(() => ({ type: "ack", batchId: 99n }));
    const conn = await Connection.connect(server.address);
    await expect(conn.ingest(1, Uint8Array.of(1), 1)).rejects.toMatchObject({ code: "LNC_CLIENT_UNEXPECTED_REPLY" });
  });

  it("times out a request with no reply and fails the requests behind it as connection-closed", async () => {
    const server = await mock(() => null);
    const conn = await Connection.connect(server.address, { requestTimeoutMs: 100 });
    const started = Date.now();
    const [lost, behind] = [conn.fetch(1, 0n, 10), conn.ping()];
    behind.catch(() => undefined);
    await expect(lost).rejects.toMatchObject({ code: "LNC_CLIENT_REQUEST_TIMEOUT", retryable: true, connectionLost: true });
    await expect(behind).rejects.toMatchObject({ code: "LNC_CLIENT_CONNECTION_CLOSED", retryable: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(conn.open).toBe(false);
  });

  it("reports a server that closes mid-request as a retryable connection loss", async () => {
    const server = await mock((_m, ctx) => {
      ctx.socket.destroy();
      return null;
    });
    const conn = await Connection.connect(server.address);
    await expect(conn.ingest(1, Uint8Array.of(1), 1)).rejects.toMatchObject({ code: "LNC_CLIENT_CONNECTION_CLOSED", retryable: true });
  });

  it("reports garbage from the server as a protocol error", async () => {
    const server = await mock(() => ({ raw: new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n") }));
    const conn = await Connection.connect(server.address);
    await expect(conn.ping()).rejects.toMatchObject({ code: "LNC_CLIENT_PROTOCOL" });
  });

  it("an unsolicited frame is a protocol violation", async () => {
    const srv = createServer((s) => s.write(encodeMessage({ type: "keepalive" })));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    const conn = await Connection.connect(`127.0.0.1:${port}`);
    await delay(50);
    expect(conn.open).toBe(false);
    await expect(conn.ping()).rejects.toMatchObject({ code: "LNC_CLIENT_UNEXPECTED_REPLY" });
    srv.close();
  });

  it("fails to connect to a closed port with a retryable connect error", async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await expect(Connection.connect(`127.0.0.1:${port}`)).rejects.toMatchObject({ code: "LNC_CLIENT_CONNECT_FAILED", retryable: true });
  });

  it("turns backpressure, errors and catching-up into typed results", async () => {
    const replies: Record<string, ReturnType<MockLog["handle"]>> = {
      ingest: { type: "backpressure" },
      fetch: { type: "catchingUp", serverOffset: 7n },
      getTopic: { type: "errorResponse", message: "Topic not found" },
    };
    const server = await mock((m: ClientMessage) => replies[m.type] ?? { type: "errorResponse", message: "READ_ONLY: nope" });
    const conn = await Connection.connect(server.address);
    await expect(conn.ingest(1, Uint8Array.of(1), 1)).rejects.toMatchObject({ code: "LNC_CLIENT_BACKPRESSURE", retryable: true, connectionLost: false });
    expect(await conn.fetch(1, 9n, 10)).toEqual({ kind: "catchingUp", end: 7n });
    await expect(conn.topicCommand({ type: "getTopic", topicId: 3 })).rejects.toMatchObject({ code: "LNC_CLIENT_TOPIC_NOT_FOUND", serverText: "Topic not found" });
    await expect(conn.topicCommand({ type: "listTopics" })).rejects.toMatchObject({ code: "LNC_CLIENT_READ_ONLY", retryable: false, serverKind: "readOnly" });
    expect(conn.open).toBe(true);
    conn.close();
  });
});

describe("serverError", () => {
  it("classifies the server's error texts", () => {
    const nl = serverError("NOT_LEADER: redirect to 10.0.0.2:1992");
    expect(nl).toMatchObject({ code: "LNC_CLIENT_NOT_LEADER", leader: "10.0.0.2:1992", retryable: true });
    expect(serverError("NOT_LEADER: leader unknown")).toMatchObject({ code: "LNC_CLIENT_NOT_LEADER", leader: undefined, retryable: true });
    expect(serverError("NO_QUORUM: FORWARD_FAILED: 1 of 3")).toMatchObject({ code: "LNC_CLIENT_NO_QUORUM", retryable: true });
    expect(serverError("FORWARD_FAILED: Leader not ready")).toMatchObject({ code: "LNC_CLIENT_FORWARD_FAILED", retryable: true });
    expect(serverError("x FORWARD_FAILED y")).toMatchObject({ code: "LNC_CLIENT_FORWARD_FAILED", retryable: true });
    expect(serverError("Authentication required")).toMatchObject({ code: "LNC_CLIENT_AUTH_REQUIRED", retryable: false });
    expect(serverError("Configuration error: Topic 4 not found")).toMatchObject({ code: "LNC_CLIENT_TOPIC_NOT_FOUND" });
    expect(serverError("Topic 'a' already exists")).toMatchObject({ code: "LNC_CLIENT_SERVER_ERROR", retryable: false, serverText: "Topic 'a' already exists" });
    expect(isClientError(nl, "LNC_CLIENT_NOT_LEADER")).toBe(true);
  });
});
