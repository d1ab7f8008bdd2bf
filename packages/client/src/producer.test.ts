import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { LanceClient } from "./client.js";
import { Consumer, type ConsumerEvent } from "./consumer.js";
import { decodeTlv, encodeTlv } from "./framing.js";
import { Producer } from "./producer.js";
import { MockLog, startMockServer, type MockServer } from "./test-mock-server.js";

const servers: MockServer[] = [];
const clients: LanceClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function setup(handler?: (log: MockLog) => Parameters<typeof startMockServer>[0]) {
  const log = new MockLog();
  const topic = log.createTopic("t");
  const server = await startMockServer(handler ? handler(log) : (m) => log.handle(m));
  servers.push(server);
  const client = new LanceClient({ server: server.address, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  clients.push(client);
  return { log, topic, server, client };
}

async function readAll(client: LanceClient, topicId: number, options: Partial<ConstructorParameters<typeof Consumer>[1]> = {}): Promise<ConsumerEvent[]> {
  const out: ConsumerEvent[] = [];
  for await (const e of new Consumer(client, { topicId, ...options })) out.push(e);
  return out;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("Producer", () => {
  it("sends records queued in one turn as one TLV ingest with record_count = records", async () => {
    const { topic, server, client } = await setup();
    const p = new Producer(client, { topicId: topic.id, lingerMs: 0 });
    await Promise.all(["a", "bb", "ccc"].map((v) => p.send(v)));
    const ingests = server.received.filter((r) => r.message.type === "ingest").map((r) => r.message);
    expect(ingests).toHaveLength(1);
    const m = ingests[0]!;
    if (m.type !== "ingest") throw new Error("not an ingest");
    expect(m.recordCount).toBe(3);
    expect(decodeTlv(m.payload).map((r) => text(r.value))).toEqual(["a", "bb", "ccc"]);
    expect(p.stats).toEqual({ batchesAcked: 1, recordsAcked: 3, bytesAcked: 3 * 5 + 6 });
  });

  it("closes a batch at batchMaxBytes", async () => {
    const { topic, server, client } = await setup();
    const p = new Producer(client, { topicId: topic.id, batchMaxBytes: 20, lingerMs: 1000 });
    // 10 records of 5 + 5 bytes: a batch is full after 2.
    await Promise.all(Array.from({ length: 10 }, (_, i) => p.send(`rec-${i}`)));
    const counts = server.received.flatMap((r) => (r.message.type === "ingest" ? [r.message.recordCount] : []));
    expect(counts).toEqual([2, 2, 2, 2, 2]);
  });

  it("holds a batch for lingerMs, and flush() sends it at once", async () => {
    const { topic, server, client } = await setup();
    const p = new Producer(client, { topicId: topic.id, lingerMs: 80 });
    const t0 = performance.now();
    await p.send("x");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
    const slow = new Producer(client, { topicId: topic.id, lingerMs: 60_000 });
    const sent = slow.send("y");
    await new Promise((r) => setTimeout(r, 20));
    expect(server.received.filter((r) => r.message.type === "ingest")).toHaveLength(1);
    await slow.flush();
    await sent;
    expect(server.received.filter((r) => r.message.type === "ingest")).toHaveLength(2);
  });

  it("pipelines at most maxInFlight ingests, and records keep their order", async () => {
    let maxSeen = 0;
    const { topic, log, client, server } = await setup((log) => async (m) => {
      await new Promise((r) => setTimeout(r, 3));
      maxSeen = Math.max(maxSeen, server.received.length - server.replied);
      return log.handle(m);
    });
    const p = new Producer(client, { topicId: topic.id, lingerMs: 0, batchMaxBytes: 1, maxInFlight: 3 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => p.send(String(i))));
    expect(maxSeen).toBe(3);
    expect(log.topics.get(topic.id)!.end).toBe(30n);
    const values = (await readAll(client, topic.id)).map((e) => (e.kind === "record" ? text(e.value) : "gap"));
    expect(values).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
  });

  it("rejects the records of a batch that failed for good", async () => {
    const { topic, client } = await setup(() => () => ({ type: "errorResponse", message: "READ_ONLY: no writes" }));
    const p = new Producer(client, { topicId: topic.id, lingerMs: 0 });
    await expect(p.send("a")).rejects.toMatchObject({ code: "LNC_CLIENT_READ_ONLY" });
  });

  it("raw framing concatenates values; sendPayload sends a payload as given", async () => {
    const { topic, server, client } = await setup();
    const p = new Producer(client, { topicId: topic.id, framing: "raw", lingerMs: 0 });
    await Promise.all([p.send("ab"), p.send("cd")]);
    await p.sendPayload(new TextEncoder().encode("x\ny\nz"), 3);
    const ingests = server.received.flatMap((r) => (r.message.type === "ingest" ? [r.message] : []));
    expect(ingests.map((m) => [text(m.payload), m.recordCount])).toEqual([
      ["abcd", 2],
      ["x\ny\nz", 3],
    ]);
    const events = await readAll(client, topic.id, { framing: "raw" });
    expect(events.map((e) => (e.kind === "record" ? [e.offset, e.recordCount, text(e.value)] : null))).toEqual([[0n, 5, "abcdx\ny\nz"]]);
  });

  it("close() right after an un-awaited send still delivers it", async () => {
    const { topic, log, client } = await setup();
    const p = new Producer(client, { topicId: topic.id, lingerMs: 10_000 });
    const sent = p.send("last words");
    await p.close();
    await sent;
    expect(log.topics.get(topic.id)!.end).toBe(1n);
    expect(p.stats.recordsAcked).toBe(1);
  });

  it("send waits for buffer room once maxBufferedBytes are queued, and ready() tells when there is room", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { topic, client } = await setup((log) => async (m) => {
      await gate;
      return log.handle(m);
    });
    const p = new Producer(client, { topicId: topic.id, lingerMs: 0, batchMaxBytes: 10, maxBufferedBytes: 20 });
    const first = [p.send("0123456789"), p.send("0123456789")];
    expect(p.bufferedBytes).toBe(30);
    let third = false;
    const later = p.send("x").then(() => (third = true));
    let ready = false;
    void p.ready().then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(ready).toBe(false);
    expect(p.bufferedBytes).toBe(30);
    release();
    await Promise.all([...first, later]);
    expect(third).toBe(true);
    expect(ready).toBe(true);
  });

  it("refuses sends after close", async () => {
    const { topic, client } = await setup();
    const p = new Producer(client, { topicId: topic.id });
    await p.close();
    await expect(p.send("a")).rejects.toMatchObject({ code: "LNC_CLIENT_CLOSED" });
  });

  it("property: whatever is sent, in whatever batches, is read back exactly, in order, with offsets 0..n-1", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 4 }),
        async (records, batchMaxBytes, maxInFlight) => {
          const { topic, client } = await setup();
          const p = new Producer(client, { topicId: topic.id, lingerMs: 0, batchMaxBytes, maxInFlight });
          await Promise.all(records.map((r) => p.send(r)));
          const events = await readAll(client, topic.id, { maxFetchBytes: 64 });
          expect(events.map((e) => (e.kind === "record" ? e.offset : -1n))).toEqual(records.map((_, i) => BigInt(i)));
          expect(events.map((e) => (e.kind === "record" ? [...e.value] : []))).toEqual(records.map((r) => [...r]));
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("TLV framing", () => {
  it("round-trips and rejects a cut record", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 30 })), (values) => {
        expect(decodeTlv(encodeTlv(values)).map((r) => [...r.value])).toEqual(values.map((v) => [...v]));
      }),
    );
    const enc = encodeTlv([Uint8Array.of(1, 2, 3)]);
    expect(() => decodeTlv(enc.subarray(0, enc.byteLength - 1))).toThrow(/claims 3 bytes/);
    expect(() => decodeTlv(enc.subarray(0, 3))).toThrow(/cut short/);
  });
});
