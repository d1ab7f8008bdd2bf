import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Admin } from "./admin.js";
import { LanceClient } from "./client.js";
import { Consumer, type ConsumerEvent } from "./consumer.js";
import { encodeTlv } from "./framing.js";
import { FileOffsetStore } from "./offset-store.js";
import { MockLog, startMockServer, type MockServer } from "./test-mock-server.js";

const servers: MockServer[] = [];
const clients: LanceClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A topic holding batches of TLV records: batch i has `sizes[i]` records named `r<offset>`. */
async function setup(sizes: number[]) {
  const log = new MockLog();
  const topic = log.createTopic("t");
  let offset = 0;
  for (const n of sizes) {
    log.append(topic.id, encodeTlv(Array.from({ length: n }, (_, j) => enc.encode(`r${offset + j}`))), n);
    offset += n;
  }
  const server = await startMockServer((m) => log.handle(m));
  servers.push(server);
  const client = new LanceClient({ server: server.address, retry: { baseDelayMs: 5 } });
  clients.push(client);
  return { log, topic, server, client };
}

function show(events: ConsumerEvent[]): string[] {
  return events.map((e) => (e.kind === "record" ? `${e.offset}:${text(e.value)}` : `gap ${e.from}..${e.to} (${e.count})`));
}

async function collect(consumer: Consumer, limit = Infinity): Promise<ConsumerEvent[]> {
  const out: ConsumerEvent[] = [];
  for await (const e of consumer) {
    out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}

describe("Consumer", () => {
  it("reads from earliest, splitting batches back into records with their offsets", async () => {
    const { topic, client } = await setup([2, 1, 3]);
    const c = new Consumer(client, { topicId: topic.id, maxFetchBytes: 10 });
    expect(show(await collect(c))).toEqual(["0:r0", "1:r1", "2:r2", "3:r3", "4:r4", "5:r5"]);
    expect(c.position).toBe(6n);
    expect(c.serverEnd).toBe(6n);
  });

  it("starts at an offset inside a batch by skipping that batch's earlier records", async () => {
    const { topic, client } = await setup([4, 2]);
    expect(show(await collect(new Consumer(client, { topicId: topic.id, start: 2n })))).toEqual(["2:r2", "3:r3", "4:r4", "5:r5"]);
  });

  it("latest reads only what is produced after the start", async () => {
    const { topic, client, log } = await setup([3]);
    const c = new Consumer(client, { topicId: topic.id, start: "latest", follow: true, pollMinMs: 5, pollMaxMs: 10 });
    const got = collect(c, 1);
    await new Promise((r) => setTimeout(r, 30));
    log.append(topic.id, encodeTlv([enc.encode("new")]), 1);
    expect(show(await got)).toEqual(["3:new"]);
  });

  it("surfaces skipped offsets (a gap left by retention or quarantine) as a gap event", async () => {
    const { topic, client, log } = await setup([2, 2, 2, 2]);
    log.removeRange(topic.id, 2n, 6n);
    const events = await collect(new Consumer(client, { topicId: topic.id, maxFetchBytes: 1 << 20 }));
    expect(show(events)).toEqual(["0:r0", "1:r1", "gap 2..5 (4)", "6:r6", "7:r7"]);
  });

  it("reports a gap below the log start for an explicit offset, not for earliest", async () => {
    const { topic, client, log } = await setup([3, 2]);
    log.removeRange(topic.id, 0n, 3n);
    expect(show(await collect(new Consumer(client, { topicId: topic.id, start: 1n })))).toEqual(["gap 1..2 (2)", "3:r3", "4:r4"]);
    expect(show(await collect(new Consumer(client, { topicId: topic.id, start: "earliest" })))).toEqual(["3:r3", "4:r4"]);
  });

  it("past the end: ends at once without follow and tells the end", async () => {
    const { topic, client } = await setup([2]);
    const c = new Consumer(client, { topicId: topic.id, start: 10n });
    expect(await collect(c)).toEqual([]);
    expect(c.serverEnd).toBe(2n);
  });

  it("follow polls with backoff when caught up and picks up new records; close() ends it", async () => {
    const { topic, client, log, server } = await setup([1]);
    const c = new Consumer(client, { topicId: topic.id, follow: true, pollMinMs: 10, pollMaxMs: 40 });
    const events: ConsumerEvent[] = [];
    const loop = (async () => {
      for await (const e of c) events.push(e);
    })();
    await new Promise((r) => setTimeout(r, 150));
    const polls = server.received.filter((r) => r.message.type === "fetch").length;
    // Backoff 10, 20, 40, 40...: a handful of polls in 150 ms, not one per millisecond.
    expect(polls).toBeGreaterThan(2);
    expect(polls).toBeLessThan(12);
    log.append(topic.id, encodeTlv([enc.encode("later")]), 1);
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    await loop;
    expect(show(events)).toEqual(["0:r0", "1:later"]);
  });

  it("fails clearly when the data is not TLV-framed, and raw framing reads it", async () => {
    const log = new MockLog();
    const topic = log.createTopic("t");
    log.append(topic.id, enc.encode("line1\nline2"), 2);
    const server = await startMockServer((m) => log.handle(m));
    servers.push(server);
    const client = new LanceClient({ server: server.address });
    clients.push(client);
    await expect(collect(new Consumer(client, { topicId: topic.id }))).rejects.toMatchObject({ code: "LNC_CLIENT_FRAMING" });
    const raw = await collect(new Consumer(client, { topicId: topic.id, framing: "raw" }));
    expect(raw).toMatchObject([{ kind: "record", offset: 0n, recordCount: 2 }]);
  });

  it("commits its position atomically and resumes from it", async () => {
    const { topic, client } = await setup([2, 2, 2]);
    const dir = mkdtempSync(join(tmpdir(), "lnc-offsets-"));
    const store = new FileOffsetStore(dir);
    const first = new Consumer(client, { topicId: topic.id, offsets: { store, consumer: "billing" } });
    expect(show(await collect(first, 3))).toEqual(["0:r0", "1:r1", "2:r2"]);
    first.commit();
    const file = join(dir, "billing", `topic-${topic.id}.offset`);
    expect(readFileSync(file, "utf8")).toBe("3\n");
    expect(readdirSync(join(dir, "billing"))).toEqual([`topic-${topic.id}.offset`]);
    // The committed offset wins over `start`.
    const second = new Consumer(client, { topicId: topic.id, start: "latest", offsets: { store, consumer: "billing" } });
    expect(show(await collect(second))).toEqual(["3:r3", "4:r4", "5:r5"]);
    second.commit();
    expect(store.load("billing", topic.id)).toBe(6n);
    expect(store.load("other", topic.id)).toBeNull();
  });
});

describe("FileOffsetStore", () => {
  it("refuses names that could escape its directory and files that do not hold an offset", () => {
    const dir = mkdtempSync(join(tmpdir(), "lnc-offsets-"));
    const store = new FileOffsetStore(dir);
    expect(() => store.save("../x", 1, 1n)).toThrow(/consumer name/);
    expect(() => store.save("..", 1, 1n)).toThrow(/consumer name/);
    store.save("a", 1, 12345678901234567890n);
    expect(store.load("a", 1)).toBe(12345678901234567890n);
    expect(existsSync(join(dir, "a", "topic-1.offset.tmp"))).toBe(false);
    writeFileSync(join(dir, "a", "topic-2.offset"), "garbage");
    expect(() => store.load("a", 2)).toThrow(expect.objectContaining({ code: "LNC_CLIENT_OFFSET_STORE" }));
  });
});

describe("Admin", () => {
  it("creates, ensures, lists, gets, sets retention, deletes and resolves topics", async () => {
    const { client } = await setup([]);
    const admin = new Admin(client);
    const orders = await admin.createTopic("orders", { maxAgeSecs: 60, maxBytes: 1000 });
    expect(orders).toMatchObject({ name: "orders", retention: { maxAgeSecs: 60n, maxBytes: 1000n } });
    await expect(admin.createTopic("orders")).rejects.toMatchObject({ code: "LNC_CLIENT_SERVER_ERROR", serverText: "Topic 'orders' already exists" });
    expect((await admin.ensureTopic("orders")).id).toBe(orders.id);
    expect((await admin.listTopics()).map((t) => t.name)).toEqual(["t", "orders"]);
    expect((await admin.getTopic(orders.id)).name).toBe("orders");
    expect(await admin.setRetention(orders.id, { maxAgeSecs: 0, maxBytes: 5n })).toEqual({ maxAgeSecs: 0n, maxBytes: 5n });
    expect((await admin.resolveTopic("orders")).id).toBe(orders.id);
    expect((await admin.resolveTopic(String(orders.id))).name).toBe("orders");
    await expect(admin.resolveTopic("nope")).rejects.toMatchObject({ code: "LNC_CLIENT_TOPIC_NOT_FOUND" });
    expect((await admin.clusterStatus()).mode).toBe("standalone");
    await admin.deleteTopic(orders.id);
    await expect(admin.getTopic(orders.id)).rejects.toMatchObject({ code: "LNC_CLIENT_TOPIC_NOT_FOUND" });
    await expect(admin.createTopic("../etc")).rejects.toMatchObject({ code: "LNC_CLIENT_BAD_ARGUMENT" });
  });
});
