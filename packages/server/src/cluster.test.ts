import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseClusterStatus, parseTopicResponse, type LwpMessage } from "@lance/protocol";
import { TopicReader, verifyTopic } from "@lance/index";
import { FaultProxy, makeTestCerts, opensslMissing } from "@lance/test-support";
import { readFileSync } from "node:fs";
import { createServer, type LanceServer } from "./server.js";
import { RawClient } from "./test-client.js";
import type { ServerConfigInput } from "./config.js";

const quiet = pino({ level: "silent" }) as never;

interface Node {
  id: number;
  dataDir: string;
  clientPort: number;
  replPort: number;
  server: LanceServer | null;
}

const live: LanceServer[] = [];
const proxies: FaultProxy[] = [];
const dirs: string[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  links.clear();
  clientTls = null;
  for (const c of clients.splice(0)) c.close();
  for (const s of live.splice(0)) await s.stop().catch(() => undefined);
  for (const p of proxies.splice(0)) await p.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

async function makeCluster(n: number): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 1; i <= n; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), `lance-cl${i}-`));
    dirs.push(dataDir);
    nodes.push({ id: i, dataDir, clientPort: await freePort(), replPort: await freePort(), server: null });
  }
  return nodes;
}

/** Node i reaches node j through links.get(`${i}->${j}`) when set (a partition is a blackholed link). */
const links = new Map<string, FaultProxy>();

async function proxyEveryLink(nodes: Node[]): Promise<void> {
  for (const a of nodes) for (const b of nodes) if (a !== b) {
    const p = await FaultProxy.start({ host: "127.0.0.1", port: b.replPort });
    proxies.push(p);
    links.set(`${a.id}->${b.id}`, p);
  }
}

function isolate(node: Node, nodes: Node[], mode: "blackhole" | "pass"): void {
  for (const other of nodes) if (other !== node) {
    links.get(`${node.id}->${other.id}`)!.setMode(mode);
    links.get(`${other.id}->${node.id}`)!.setMode(mode);
  }
}

function config(node: Node, nodes: Node[], extra: Partial<ServerConfigInput> = {}): ServerConfigInput {
  return {
    nodeId: node.id,
    dataDir: node.dataDir,
    listen: { host: "127.0.0.1", port: node.clientPort },
    logger: quiet,
    checkpointIntervalMs: 100,
    segmentMaxBytes: 64 * 1024,
    cluster: {
      peers: nodes.map((p) => ({ id: p.id, host: "127.0.0.1", port: links.get(`${node.id}->${p.id}`)?.port ?? p.replPort })),
      replicationAddr: { host: "127.0.0.1", port: node.replPort },
      ...(extra.cluster ?? {}),
    },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "cluster")),
  } as ServerConfigInput;
}

/** A logger that keeps the messages (to check what a node reported). */
function recorder(): { logger: never; messages: string[] } {
  const messages: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { logger: logger as never, messages };
}

async function startNode(node: Node, nodes: Node[], extra: Partial<ServerConfigInput> = {}, logger: never = quiet): Promise<LanceServer> {
  const s = createServer({ ...config(node, nodes, extra), logger });
  await s.start();
  node.server = s;
  live.push(s);
  return s;
}

async function stopNode(node: Node): Promise<void> {
  const s = node.server!;
  node.server = null;
  live.splice(live.indexOf(s), 1);
  await s.stop();
}

/** Set by a test whose nodes serve clients over TLS. */
let clientTls: { ca: Buffer } | null = null;

async function client(node: Node): Promise<RawClient> {
  const c = clientTls ? await RawClient.connectTls(node.clientPort, { ca: clientTls.ca, servername: "localhost" }) : await RawClient.connect(node.clientPort);
  clients.push(c);
  return c;
}

async function status(node: Node) {
  const c = await client(node);
  const r = await c.request({ type: "getClusterStatus" });
  c.close();
  if (r.type !== "clusterStatusResponse") throw new Error(`status: ${JSON.stringify(r)}`);
  return parseClusterStatus(r.json);
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

async function leaderOf(nodes: Node[]): Promise<Node> {
  return waitFor("a leader", async () => {
    for (const n of nodes) {
      if (n.server && (await status(n)).isLeader) return n;
    }
    return null;
  });
}

async function createTopic(c: RawClient, name: string): Promise<number> {
  const r = await c.request({ type: "createTopic", name });
  if (r.type !== "topicResponse") throw new Error(`create failed: ${JSON.stringify(r)}`);
  const body = parseTopicResponse(r.json);
  if (body.kind !== "topic") throw new Error("unexpected body");
  return body.topic.id;
}

/** Creates a topic on the leader, retrying while it is still applying its log. */
async function createTopicOnLeader(nodes: Node[], name: string): Promise<number> {
  return waitFor(`topic ${name}`, async () => {
    const c = await client(await leaderOf(nodes));
    try {
      return await createTopic(c, name);
    } finally {
      c.close();
    }
  });
}

const ingest = (topicId: number, batchId: number, payload: string) =>
  ({ type: "ingest", batchId: BigInt(batchId), timestampNs: 1_700_000_000_000_000_000n, recordCount: 1, topicId, payload: Buffer.from(payload) }) as const;

/** Produces `payloads` through whichever node leads, one at a time, retrying refusals. Returns the acked ones. */
async function produce(nodes: Node[], topicId: number, payloads: string[]): Promise<void> {
  let c: RawClient | null = null;
  for (let i = 0; i < payloads.length; ) {
    if (!c || c.closed) c = await client(await leaderOf(nodes));
    let r: LwpMessage;
    try {
      r = await c.request(ingest(topicId, i + 1, payloads[i]!));
    } catch {
      c.close();
      c = null;
      continue;
    }
    if (r.type === "ack") i++;
    else {
      c.close();
      c = null;
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  c?.close();
}

/** Every record of a topic as stored on `node`, by offset. */
async function readAll(node: Node, topicId: number): Promise<string[]> {
  const c = await client(node);
  const out: string[] = [];
  let offset = 0n;
  for (;;) {
    const r = await c.request({ type: "fetch", topicId, startOffset: offset, maxBytes: 1 << 20 });
    if (r.type !== "fetchResponse") throw new Error(`fetch: ${JSON.stringify(r).slice(0, 200)}`);
    if (r.recordCount === 0) break;
    // One record per ingest in these tests: each payload is one record.
    out.push(...splitRecords(Buffer.from(r.data), r.recordCount));
    offset = r.nextOffset;
  }
  c.close();
  return out;
}

/** Test payloads are fixed-width, so a batch run splits evenly. */
function splitRecords(data: Buffer, count: number): string[] {
  const w = data.length / count;
  return Array.from({ length: count }, (_, i) => data.subarray(i * w, (i + 1) * w).toString());
}

const payload = (i: number) => `rec-${String(i).padStart(8, "0")}`;

describe("three-node cluster (in process, real sockets)", () => {
  it("elects a leader, replicates writes to every node, redirects writes sent to a follower", async () => {
    const nodes = await makeCluster(3);
    await Promise.all(nodes.map((n) => startNode(n, nodes)));
    const topic = await createTopicOnLeader(nodes, "orders");
    const payloads = Array.from({ length: 300 }, (_, i) => payload(i));
    await produce(nodes, topic, payloads);

    // A follower that knows the leader redirects to the leader's client address (asked again
    // each round: on two shared cores a slow tick can move leadership meanwhile).
    const redirect = await waitFor("a follower's redirect", async () => {
      for (const f of nodes) {
        const st = await status(f);
        if (st.isLeader || st.leaderId === null) continue;
        const fc = await client(f);
        const r = await fc.request(ingest(topic, 999, "x"));
        fc.close();
        const to = nodes.find((n) => n.id === st.leaderId)!;
        if (r.type === "errorResponse") return { message: r.message, expected: `NOT_LEADER: redirect to 127.0.0.1:${to.clientPort}` };
      }
      return null;
    });
    expect(redirect.message).toBe(redirect.expected);

    for (const n of nodes) await waitFor(`node ${n.id} to hold every record`, async () => ((await readAll(n, topic)).length === payloads.length ? true : null));
    for (const n of nodes) expect(await readAll(n, topic)).toEqual(payloads);

    // A consumer's committed offset is replicated: a subscribe on any node resumes there.
    const lc = await client(await leaderOf(nodes));
    expect(await lc.request({ type: "commitOffset", topicId: topic, consumerId: 42n, offset: 123n })).toEqual({ type: "commitAck", consumerId: 42n, committedOffset: 123n });
    for (const n of nodes) {
      await waitFor(`node ${n.id} to resume consumer 42 at 123`, async () => {
        const c = await client(n);
        const r = await c.request({ type: "subscribe", topicId: topic, startOffset: 0n, maxBatchBytes: 1024, consumerId: 42n });
        c.close();
        return r.type === "subscribeAck" && r.startOffset === 123n ? true : null;
      });
    }

    const leader = await leaderOf(nodes);
    const st = await status(leader);
    expect(st.raft!.role).toBe("leader");
    expect(Object.keys(st.raft!.peers).sort()).toEqual(nodes.filter((n) => n !== leader).map((n) => String(n.id)).sort());
    expect(st.quorumAvailable).toBe(true);
    // The same view in Prometheus text.
    const text = await leader.server!.metrics.registry.metrics();
    expect(text).toContain("lance_raft_is_leader 1");
    expect(text).toMatch(/lance_raft_commit_index [1-9]\d*/);
    for (const n of nodes.filter((x) => x !== leader)) expect(text).toMatch(new RegExp(`lance_raft_peer_lag_entries\\{peer="${n.id}"\\} \\d+`));
  });

  it("fails over when the leader stops, and the old leader catches up when it returns", async () => {
    const nodes = await makeCluster(3);
    await Promise.all(nodes.map((n) => startNode(n, nodes)));
    const topic = await createTopicOnLeader(nodes, "events");
    const first = Array.from({ length: 100 }, (_, i) => payload(i));
    await produce(nodes, topic, first);
    const old = await leaderOf(nodes);
    await stopNode(old);
    const next = await leaderOf(nodes);
    expect(next).not.toBe(old);
    const second = Array.from({ length: 100 }, (_, i) => payload(100 + i));
    await produce(nodes, topic, second);
    await startNode(old, nodes);
    const all = [...first, ...second];
    await waitFor("the returning node to catch up", async () => ((await readAll(old, topic)).length === all.length ? true : null));
    for (const n of nodes) expect(await readAll(n, topic)).toEqual(all);
  });

  it("rebuilds a follower whose data dir was wiped from a snapshot, then the log", async () => {
    const nodes = await makeCluster(3);
    const small = { cluster: { keepLogBytes: 0 } } as Partial<ServerConfigInput>;
    await Promise.all(nodes.map((n) => startNode(n, nodes, small)));
    const topic = await createTopicOnLeader(nodes, "wiped");
    const first = Array.from({ length: 400 }, (_, i) => payload(i));
    await produce(nodes, topic, first);
    const leader = await leaderOf(nodes);
    const victim = nodes.find((n) => n !== leader)!;
    await stopNode(victim);
    rmSync(victim.dataDir, { recursive: true, force: true });
    // Let the leader checkpoint and compact past everything the victim had.
    await new Promise((r) => setTimeout(r, 400));
    const rec = recorder();
    await startNode(victim, nodes, small, rec.logger);
    const second = Array.from({ length: 50 }, (_, i) => payload(400 + i));
    await produce(nodes, topic, second);
    const all = [...first, ...second];
    await waitFor("the wiped node to hold the full history", async () => ((await readAll(victim, topic)).length === all.length ? true : null), 30_000);
    expect(await readAll(victim, topic)).toEqual(all);
    const report = verifyTopic(join(victim.dataDir, "segments", "wiped"));
    expect(report.totals.errors).toBe(0);
    expect(report.totals.records).toBe(all.length);
    expect(rec.messages).toContain("snapshot installed");
  });

  it("L1: a leader cut off acknowledges writes on its own fsync; when it rejoins, the new leader's log wins and that suffix is kept in divergent/", async () => {
    const nodes = await makeCluster(3);
    await proxyEveryLink(nodes);
    const l1 = { cluster: { mode: "l1" } } as Partial<ServerConfigInput>;
    await Promise.all(nodes.map((n) => startNode(n, nodes, l1)));
    const topic = await createTopicOnLeader(nodes, "orders");
    const before = Array.from({ length: 50 }, (_, i) => payload(i));
    await produce(nodes, topic, before);
    const old = await leaderOf(nodes);
    isolate(old, nodes, "blackhole");
    // Until check-quorum deposes it (150-300 ms), the old leader acks L1 writes alone.
    const c = await client(old);
    const alone: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const p = `div-${String(i).padStart(8, "0")}`;
      const r = await c.request(ingest(topic, 10_000 + i, p));
      if (r.type !== "ack") break;
      alone.push(p);
    }
    expect(alone.length).toBeGreaterThan(0);
    console.log(`L1 leader acknowledged ${alone.length} writes alone before stepping down`);
    const majority = nodes.filter((n) => n !== old);
    const after = Array.from({ length: 50 }, (_, i) => payload(1000 + i));
    await produce(majority, topic, after);
    isolate(old, nodes, "pass");
    const final = [...before, ...after];
    await waitFor("the old leader to converge on the new leader's log", async () => ((await readAll(old, topic)).join() === final.join() ? true : null), 30_000);
    for (const n of nodes) expect(await readAll(n, topic)).toEqual(final);
    // Nothing it acknowledged is silently gone: it is in divergent/orders, readable as a topic.
    const reader = new TopicReader(join(old.dataDir, "divergent", "orders"));
    const kept: string[] = [];
    let offset = before.length;
    for (;;) {
      const res = await reader.read(offset, 1 << 20);
      if (res.batches.length === 0) break;
      for (const b of res.batches) kept.push(...splitRecords(Buffer.from(b.payload), b.recordCount));
      offset = res.batches[res.batches.length - 1]!.nextOffset;
    }
    await reader.close();
    expect(kept.slice(0, alone.length)).toEqual(alone);
  });

  it.skipIf(opensslMissing !== null)("with [tls] enabled, nodes replicate over mutual TLS (and serve clients over TLS)", async () => {
    const certs = makeTestCerts();
    dirs.push(certs.dir);
    const nodes = await makeCluster(3);
    const tls = { tls: { enabled: true, certPath: certs.nodeCert, keyPath: certs.nodeKey, caPath: certs.ca } } as Partial<ServerConfigInput>;
    clientTls = { ca: readFileSync(certs.ca) };
    const recs = nodes.map(() => recorder());
    await Promise.all(nodes.map((n, i) => startNode(n, nodes, tls, recs[i]!.logger)));
    const topic = await createTopicOnLeader(nodes, "secure");
    const payloads = Array.from({ length: 50 }, (_, i) => payload(i));
    await produce(nodes, topic, payloads);
    for (const n of nodes) await waitFor(`node ${n.id} to hold every record`, async () => ((await readAll(n, topic)).join() === payloads.join() ? true : null));
    // SIGHUP: every node reloads its certificate; a node restarted afterwards handshakes with
    // the reloaded contexts and catches up.
    for (const n of nodes) expect(await n.server!.reload()).toMatchObject({ tls: true });
    const restarted = nodes[2]!;
    await stopNode(restarted);
    const more = Array.from({ length: 20 }, (_, i) => payload(50 + i));
    await produce(nodes, topic, more);
    await startNode(restarted, nodes, tls, recs[2]!.logger);
    await waitFor("the restarted node to catch up over TLS", async () => ((await readAll(restarted, topic)).join() === [...payloads, ...more].join() ? true : null));
    // The replication port speaks TLS and wants a client certificate of the cluster's CA.
    const { connect: tlsConnect } = await import("node:tls");
    const handshake = (opts: { cert?: Buffer; key?: Buffer }) =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({ port: nodes[0]!.replPort, host: "127.0.0.1", ca: readFileSync(certs.ca), servername: "localhost", ...opts });
        s.on("secureConnect", () => s.write(Buffer.alloc(0)));
        s.on("error", (e) => resolve(`error: ${e.message}`));
        s.on("close", () => resolve(s.authorized ? "closed after handshake" : "closed"));
        setTimeout(() => {
          s.destroy();
          resolve(s.authorized ? "open" : "no handshake");
        }, 1_000);
      });
    expect(await handshake({ cert: readFileSync(certs.nodeCert), key: readFileSync(certs.nodeKey) })).toMatch(/open|closed after handshake/);
    expect(await handshake({})).toMatch(/error|closed$/);
    expect(recs.flatMap((r) => r.messages).filter((m) => /peer message refused/.test(m))).toEqual([]);
  });

  it("a follower catches up from the log over large batches (append messages are capped in bytes, not only in entries)", async () => {
    const nodes = await makeCluster(3);
    const big = { cluster: { keepLogBytes: 512 * 1024 * 1024 } } as Partial<ServerConfigInput>;
    await Promise.all(nodes.map((n) => startNode(n, nodes, big)));
    const topic = await createTopicOnLeader(nodes, "large");
    const leader = await leaderOf(nodes);
    const lagging = nodes.find((n) => n !== leader)!;
    await stopNode(lagging);
    // 80 batches of 1 MiB: 64 entries (one message's worth by count) exceed a 64 MiB frame.
    const c = await client(leader);
    const mib = (i: number) => Buffer.alloc(1024 * 1024, 65 + (i % 26));
    for (let i = 0; i < 80; i++) c.send({ type: "ingest", batchId: BigInt(i + 1), timestampNs: 1n, recordCount: 1, topicId: topic, payload: mib(i) });
    for (let i = 0; i < 80; i++) expect(await c.next(30_000)).toEqual({ type: "ack", batchId: BigInt(i + 1) });
    await startNode(lagging, nodes, big);
    await waitFor("the lagging follower to hold all 80 MiB", async () => {
      const f = await client(lagging);
      const r = await f.request({ type: "fetch", topicId: topic, startOffset: 79n, maxBytes: 2 * 1024 * 1024 });
      f.close();
      return r.type === "fetchResponse" && r.recordCount === 1 && Buffer.from(r.data).equals(mib(79)) ? true : null;
    }, 60_000);
  });
});
