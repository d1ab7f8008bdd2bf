import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { writeTopicMetadata } from "@lance/segment-format";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { TAIL_OFFSET, parseTopicResponse, type LwpMessage } from "@lance/protocol";
import { verifyTopic } from "@lance/index";
import { createServer, type LanceServer } from "./server.js";
import { RawClient } from "./test-client.js";
import pino from "pino";

const quiet = pino({ level: "silent" }) as never;
const servers: LanceServer[] = [];
const clients: RawClient[] = [];

async function start(opts: { dataDir?: string; readOnly?: boolean; segmentMaxBytes?: number; maxPendingIngestBytes?: number } = {}) {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "lance-srv-"));
  const s = createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    logger: quiet,
    readOnly: opts.readOnly ?? false,
    segmentMaxBytes: opts.segmentMaxBytes ?? 1 << 20,
    ...(opts.maxPendingIngestBytes ? { maxPendingIngestBytes: opts.maxPendingIngestBytes } : {}),
  });
  await s.start();
  servers.push(s);
  const c = await RawClient.connect(s.address().port);
  clients.push(c);
  return { s, c, dataDir };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  const stopped = servers.splice(0);
  for (const s of stopped) await s.stop();
  for (const s of stopped) rmSync(s.config.dataDir, { recursive: true, force: true });
});

async function createTopic(c: RawClient, name: string): Promise<number> {
  const r = await c.request({ type: "createTopic", name });
  if (r.type !== "topicResponse") throw new Error(`create failed: ${JSON.stringify(r)}`);
  const body = parseTopicResponse(r.json);
  if (body.kind !== "topic") throw new Error("unexpected body");
  return body.topic.id;
}

const ingest = (topicId: number, batchId: number, payload: string, recordCount = 1) =>
  ({ type: "ingest", batchId: BigInt(batchId), timestampNs: 1_700_000_000_000_000_000n, recordCount, topicId, payload: Buffer.from(payload) }) as const;

describe("standalone server over TCP", () => {
  it("acks pipelined ingests in order and serves them back by record offset as whole batches", async () => {
    const { c, dataDir } = await start({ segmentMaxBytes: 4096 });
    const id = await createTopic(c, "orders");
    const payloads = Array.from({ length: 200 }, (_, i) => `record-${i}-${"x".repeat(i % 50)}`);
    payloads.forEach((p, i) => c.send(ingest(id, i + 1, p, 2)));
    for (let i = 0; i < payloads.length; i++) expect(await c.next()).toEqual({ type: "ack", batchId: BigInt(i + 1) });

    let offset = 0n;
    let data = "";
    let records = 0;
    for (;;) {
      const r = await c.request({ type: "fetch", topicId: id, startOffset: offset, maxBytes: 1000 });
      if (r.type !== "fetchResponse") throw new Error(JSON.stringify(r));
      if (r.data.byteLength === 0) break;
      data += Buffer.from(r.data).toString();
      records += r.recordCount;
      expect(r.nextOffset - offset).toBe(BigInt(r.recordCount));
      offset = r.nextOffset;
    }
    expect(data).toBe(payloads.join(""));
    expect(records).toBe(400);
    expect(offset).toBe(400n);
    // A fetch inside a batch returns that whole batch.
    const mid = await c.request({ type: "fetch", topicId: id, startOffset: 7n, maxBytes: 1 });
    expect(mid).toMatchObject({ type: "fetchResponse", nextOffset: 8n, recordCount: 2 });
    expect(Buffer.from((mid as { data: Uint8Array }).data).toString()).toBe(payloads[3]);
    expect(await c.request({ type: "fetch", topicId: id, startOffset: TAIL_OFFSET, maxBytes: 100 })).toMatchObject({ type: "fetchResponse", nextOffset: 400n, recordCount: 0 });
    expect(await c.request({ type: "fetch", topicId: id, startOffset: 401n, maxBytes: 100 })).toEqual({ type: "catchingUp", serverOffset: 400n });
    expect(readdirSync(join(dataDir, "segments", "orders")).filter((f) => f.endsWith(".lnc")).length).toBeGreaterThan(3);
  });

  it("finds the first offset at or after a timestamp (OffsetForTime extension)", async () => {
    const { c } = await start({ segmentMaxBytes: 4096 });
    const id = await createTopic(c, "timed");
    const T = 1_700_000_000_000_000_000n;
    for (let i = 0; i < 100; i++) {
      expect(await c.request({ type: "ingest", batchId: BigInt(i), timestampNs: T + BigInt(i) * 1_000_000n, recordCount: 2, topicId: id, payload: Buffer.from(`r${i}`.padEnd(80)) })).toMatchObject({ type: "ack" });
    }
    const at = async (ts: bigint) => ((await c.request({ type: "offsetForTime", topicId: id, timestampNs: ts })) as { offset: bigint }).offset;
    expect(await at(0n)).toBe(0n);
    expect(await at(T + 37_000_000n)).toBe(74n);
    expect(await at(T + 37_000_001n)).toBe(76n);
    expect(await at(T + 1_000_000_000n)).toBe(200n);
    expect(await c.request({ type: "offsetForTime", topicId: 999, timestampNs: 0n })).toMatchObject({ type: "errorResponse" });
  });

  it("loads only directories named like topics, and never reuses an id found on disk", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-srv-"));
    for (const name of [".import-x-1", "42"]) {
      mkdirSync(join(dataDir, "segments", name), { recursive: true });
      writeTopicMetadata(join(dataDir, "segments", name), { id: 3, name, created_at: 0, topic_epoch: 1, auth: null, retention: null });
    }
    const { c } = await start({ dataDir });
    const list = await c.request({ type: "listTopics" });
    expect(parseTopicResponse((list as { json: string }).json)).toEqual({ kind: "topics", topics: [] });
    mkdirSync(join(dataDir, "segments", "imported"));
    writeTopicMetadata(join(dataDir, "segments", "imported"), { id: 7, name: "imported", created_at: 0, topic_epoch: 1, auth: null, retention: null });
    expect(await createTopic(c, "fresh")).toBe(8);
  });

  it("answers admin commands, refuses bad topic names, acks empty ingests and rejects unknown topics", async () => {
    const { c } = await start();
    const id = await createTopic(c, "a-topic");
    expect(await c.request({ type: "createTopic", name: "a-topic" })).toEqual({ type: "errorResponse", message: "Topic 'a-topic' already exists" });
    for (const bad of ["../etc", "a/b", "..", "x".repeat(300), "123"]) {
      const r = await c.request({ type: "createTopic", name: bad });
      expect(r.type, bad).toBe("errorResponse");
    }
    const list = await c.request({ type: "listTopics" });
    expect(parseTopicResponse((list as { json: string }).json)).toMatchObject({ kind: "topics", topics: [{ id, name: "a-topic" }] });
    expect(await c.request(ingest(id, 9, ""))).toEqual({ type: "ack", batchId: 9n });
    expect(await c.request(ingest(999, 10, "x"))).toEqual({ type: "errorResponse", message: "Unknown topic" });
    expect(await c.request(ingest(id, 11, "abc", 4))).toMatchObject({ type: "errorResponse", message: expect.stringContaining("record_count 4 exceeds the 3-byte payload") });
    expect(await c.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
    const del = await c.request({ type: "deleteTopic", topicId: id });
    expect(parseTopicResponse((del as { json: string }).json)).toEqual({ kind: "deleted", topicId: id });
    expect(await c.request({ type: "getTopic", topicId: id })).toEqual({ type: "errorResponse", message: "Topic not found" });
  });

  it("in read_only mode rejects writes with a clear error and keeps serving reads", async () => {
    const first = await start();
    const id = await createTopic(first.c, "ro");
    expect(await first.c.request(ingest(id, 1, "kept"))).toEqual({ type: "ack", batchId: 1n });
    first.c.close();
    await first.s.stop();
    const { c } = await start({ dataDir: first.dataDir, readOnly: true });
    const r = (await c.request(ingest(id, 2, "refused"))) as LwpMessage & { message: string };
    expect(r.type).toBe("errorResponse");
    expect(r.message).toMatch(/^READ_ONLY: /);
    expect((await c.request({ type: "createTopic", name: "other" })).type).toBe("errorResponse");
    const f = await c.request({ type: "fetch", topicId: id, startOffset: 0n, maxBytes: 100 });
    expect(Buffer.from((f as { data: Uint8Array }).data).toString()).toBe("kept");
  });

  it("answers ingests beyond the pending-bytes limit with Backpressure and writes none of them", async () => {
    const { c } = await start({ maxPendingIngestBytes: 100 });
    const id = await createTopic(c, "bp");
    for (let i = 0; i < 20; i++) c.send(ingest(id, i, "x".repeat(60)));
    const replies = [];
    for (let i = 0; i < 20; i++) replies.push(await c.next());
    const acks = replies.filter((r) => r.type === "ack").length;
    expect(replies.filter((r) => r.type === "backpressure").length).toBe(20 - acks);
    expect(acks).toBeGreaterThan(0);
    expect(acks).toBeLessThan(20);
    const f = await c.request({ type: "fetch", topicId: id, startOffset: 0n, maxBytes: 1 << 20 });
    expect((f as { data: Uint8Array }).data.byteLength).toBe(acks * 60);
  });

  it("answers a malformed frame with an error and closes only that connection", async () => {
    const { s, c } = await start();
    const id = await createTopic(c, "safe");
    const bad = connect(s.address().port, "127.0.0.1");
    const got: Buffer[] = [];
    bad.on("data", (d) => got.push(d));
    await new Promise((r) => bad.on("connect", r));
    bad.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await new Promise((r) => bad.on("close", r));
    expect(Buffer.concat(got).subarray(0, 4).toString()).toBe("LANC");
    expect(await c.request(ingest(id, 1, "still fine"))).toEqual({ type: "ack", batchId: 1n });
  });

  it("survives a clean restart with every record and offset intact", async () => {
    const first = await start({ segmentMaxBytes: 4096 });
    const id = await createTopic(first.c, "durable");
    for (let i = 0; i < 50; i++) first.c.send(ingest(id, i, `r${i}`));
    for (let i = 0; i < 50; i++) await first.c.next();
    first.c.close();
    expect(await first.s.stop()).toEqual({ drained: true });
    const { c, dataDir } = await start({ dataDir: first.dataDir });
    const f = await c.request({ type: "fetch", topicId: id, startOffset: 0n, maxBytes: 1 << 20 });
    expect(Buffer.from((f as { data: Uint8Array }).data).toString()).toBe(Array.from({ length: 50 }, (_, i) => `r${i}`).join(""));
    expect(await c.request(ingest(id, 99, "next"))).toEqual({ type: "ack", batchId: 99n });
    expect((await c.request({ type: "fetch", topicId: id, startOffset: 50n, maxBytes: 10 })).type).toBe("fetchResponse");
    expect(verifyTopic(join(dataDir, "segments", "durable")).ok).toBe(true);
    expect(existsSync(join(dataDir, "wal"))).toBe(true);
  });
});

