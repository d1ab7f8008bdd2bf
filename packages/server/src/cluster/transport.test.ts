import { afterEach, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { crc32c, isLanceError } from "@lance/segment-format";
import { FaultProxy, makeTestCerts, opensslMissing, type TestCerts } from "@lance/test-support";
import { encodePeerFrame, PeerFrameDecoder } from "./peer-frame.js";
import { Transport, type PeerAddress, type TransportOptions } from "./transport.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface LogLine {
  level: "info" | "warn" | "debug";
  obj: Record<string, unknown>;
  msg: string | undefined;
}

interface Node {
  t: Transport;
  inbox: { from: number; msg: unknown }[];
  logs: LogLine[];
  events: string[];
}

function makeNode(id: number, port: number, peers: PeerAddress[], extra: Partial<TransportOptions> = {}): Node {
  const inbox: Node["inbox"] = [];
  const logs: LogLine[] = [];
  const events: string[] = [];
  const log = (level: LogLine["level"]) => (obj: object, msg?: string) => logs.push({ level, obj: obj as Record<string, unknown>, msg });
  const t = new Transport({
    nodeId: id,
    listen: { host: "127.0.0.1", port },
    peers,
    info: { client: `127.0.0.1:${1000 + id}` },
    onMessage: (from, msg) => inbox.push({ from, msg }),
    onPeerConnected: (peer, up) => events.push(`${peer}:${up ? "up" : "down"}`),
    logger: { info: log("info"), warn: log("warn"), debug: log("debug") },
    ...extra,
  });
  cleanups.push(() => t.stop());
  return { t, inbox, logs, events };
}

/** n nodes on free ports, all started and fully connected. */
async function cluster(n: number, extra: (id: number) => Partial<TransportOptions> = () => ({})): Promise<Node[]> {
  const addrs: PeerAddress[] = [];
  for (let id = 1; id <= n; id++) addrs.push({ id, host: "127.0.0.1", port: await freePort() });
  const nodes = addrs.map((a) => makeNode(a.id, a.port, addrs.filter((p) => p.id !== a.id), extra(a.id)));
  await Promise.all(nodes.map((x) => x.t.start()));
  await until(() => nodes.every((x, i) => addrs.every((a) => a.id === i + 1 || x.t.isConnected(a.id))), "all connected");
  return nodes;
}

/** A raw TCP connection to a transport, for speaking the protocol by hand. */
async function raw(port: number): Promise<{ s: net.Socket; frames: unknown[]; closed: Promise<void> }> {
  const s = net.connect(port, "127.0.0.1");
  const frames: unknown[] = [];
  const d = new PeerFrameDecoder();
  s.on("data", (c: Buffer) => d.push(c, (v) => frames.push(v)));
  s.on("error", () => {});
  const closed = new Promise<void>((r) => s.on("close", () => r()));
  await new Promise<void>((r) => s.once("connect", () => r()));
  cleanups.push(() => s.destroy());
  return { s, frames, closed };
}

const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("peer frames", () => {
  const sample = {
    type: "app",
    term: 3,
    big: 2 ** 40 + 7,
    neg: -12,
    frac: 0.5,
    none: null,
    flag: true,
    entries: [
      { index: 1, term: 1, type: "normal", data: payload(1000, 1) },
      { index: 2, term: 1, type: "noop", data: new Uint8Array(0) },
    ],
    nested: [[{ a: [1, 2, { b: false }] }]],
  };

  it("round-trips numbers, null, booleans, nested arrays and Uint8Array as bytes", () => {
    const out: unknown[] = [];
    new PeerFrameDecoder().push(encodePeerFrame(sample), (v) => out.push(v));
    expect(out).toHaveLength(1);
    const v = out[0] as typeof sample;
    expect(v.entries[0]!.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(v.entries[0]!.data).equals(Buffer.from(sample.entries[0]!.data))).toBe(true);
    expect({ ...v, entries: v.entries.map((e) => ({ ...e, data: Array.from(e.data) })) }).toEqual({
      ...sample,
      entries: sample.entries.map((e) => ({ ...e, data: Array.from(e.data) })),
    });
  });

  it("decodes any chunking of a stream of frames", () => {
    const values = Array.from({ length: 20 }, (_, i) => ({ i, data: payload((i * 97) % 700, i), s: "x".repeat(i) }));
    const stream = Buffer.concat(values.map((v) => encodePeerFrame(v)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 40 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const d = new PeerFrameDecoder();
        const out: { i: number; data: Uint8Array }[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          d.push(stream.subarray(prev, p), (v) => out.push(v as { i: number; data: Uint8Array }));
          prev = p;
        }
        expect(out.map((v) => v.i)).toEqual(values.map((v) => v.i));
        for (const [k, v] of out.entries()) expect(Buffer.from(v.data).equals(Buffer.from(values[k]!.data))).toBe(true);
        expect(d.pendingBytes).toBe(0);
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it("rejects a CRC mismatch, an oversize length and an undecodable body with typed errors", () => {
    const good = encodePeerFrame({ x: 1 });
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 0x01;
    const code = (buf: Buffer, max?: number) => {
      try {
        new PeerFrameDecoder(max).push(buf, () => {});
        return "ok";
      } catch (err) {
        return isLanceError(err) ? err.code : String(err);
      }
    };
    expect(code(good)).toBe("ok");
    expect(code(flipped)).toBe("LNC_PEER_FRAME_CRC");
    expect(code(good, 2)).toBe("LNC_PEER_FRAME_TOO_LARGE");
    const header = Buffer.alloc(8);
    header.writeUInt32BE(0xffffffff, 0);
    expect(code(header)).toBe("LNC_PEER_FRAME_TOO_LARGE"); // rejected from the header alone
    const junk = Buffer.from([0x92, 0x01]); // an array of two with one element
    const bad = Buffer.concat([Buffer.alloc(8), junk]);
    bad.writeUInt32BE(junk.length, 0);
    bad.writeUInt32BE(crc32c(junk), 4);
    expect(code(bad)).toBe("LNC_PEER_FRAME_DECODE");
    // A frame before the bad one in the same chunk is still delivered; the decoder then stays failed.
    const d = new PeerFrameDecoder();
    const seen: unknown[] = [];
    expect(() => d.push(Buffer.concat([good, flipped]), (v) => seen.push(v))).toThrow();
    expect(seen).toEqual([{ x: 1 }]);
    expect(() => d.push(good, () => {})).toThrow();
  });
});

describe("Transport", () => {
  it("three nodes exchange messages with byte-exact Uint8Array payloads, and learn each other's info", async () => {
    const nodes = await cluster(3);
    for (const [i, x] of nodes.entries()) {
      for (const p of [1, 2, 3]) {
        if (i + 1 === p) continue;
        expect(x.t.peerInfo(p)).toEqual({ client: `127.0.0.1:${1000 + p}` });
      }
    }
    for (const [i, x] of nodes.entries()) {
      const from = i + 1;
      for (const to of [1, 2, 3]) {
        if (to === from) continue;
        for (let k = 0; k < 50; k++) {
          expect(x.t.send(to, { type: "app", from, k, entries: [{ data: payload(k * 100, from * 7 + to) }], ok: null })).toBe(true);
        }
      }
    }
    await until(() => nodes.every((x) => x.inbox.length === 100), "100 messages at each node");
    for (const [i, x] of nodes.entries()) {
      const to = i + 1;
      for (const from of [1, 2, 3]) {
        if (from === to) continue;
        const got = x.inbox.filter((e) => e.from === from).map((e) => e.msg as { from: number; k: number; entries: { data: Uint8Array }[] });
        expect(got.map((m) => m.k)).toEqual([...Array(50).keys()]); // in order
        for (const m of got) {
          expect(m.from).toBe(from);
          expect(m.entries[0]!.data).toBeInstanceOf(Uint8Array);
          expect(Buffer.from(m.entries[0]!.data).equals(Buffer.from(payload(m.k * 100, from * 7 + to)))).toBe(true);
        }
      }
      expect(x.t.stats()).toMatchObject({ sent: 100, received: 100, dropped: 0, badFrames: 0 });
    }
    expect(nodes[0]!.t.send(9, {})).toBe(false); // not a peer
  });

  it("closes a connection that sends a corrupt frame after a valid hello; other peers keep working", async () => {
    const [a, b] = await cluster(2);
    const r = await raw(b!.t.address().port);
    r.s.write(encodePeerFrame({ t: "hello", nodeId: 1, info: { impostor: true } }));
    await until(() => r.frames.length === 1, "hello reply");
    expect(r.frames[0]).toMatchObject({ t: "hello", nodeId: 2, info: { client: "127.0.0.1:1002" } });
    r.s.write(encodePeerFrame({ t: "m", m: { fine: 1 } }));
    const bad = encodePeerFrame({ t: "m", m: { data: payload(100, 3) } });
    bad[bad.length - 10]! ^= 0xff;
    r.s.write(bad);
    await r.closed;
    expect(b!.inbox.map((e) => e.msg)).toContainEqual({ fine: 1 });
    expect(b!.t.stats().badFrames).toBe(1);
    const warn = b!.logs.find((l) => l.level === "warn" && l.obj.err === "LNC_PEER_FRAME_CRC");
    expect(warn?.obj).toMatchObject({ peer: 1 });
    expect(warn?.obj.remote).toMatch(/127\.0\.0\.1:\d+/);
    // The real node 1 still gets through.
    expect(a!.t.send(2, { after: true })).toBe(true);
    await until(() => b!.inbox.some((e) => (e.msg as { after?: boolean }).after === true), "message after the bad frame");
  });

  it("a dialer whose peer sends a bad frame reconnects", async () => {
    // A fake peer 2: answers the first hello with a corrupt frame, the next one properly.
    const port = await freePort();
    let conns = 0;
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      const n = ++conns;
      s.on("error", () => {});
      s.once("data", () => {
        const reply = encodePeerFrame({ t: "hello", nodeId: 2, info: {} });
        if (n === 1) reply[reply.length - 1]! ^= 1;
        s.write(reply);
      });
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const a = makeNode(1, 0, [{ id: 2, host: "127.0.0.1", port }]);
    await a.t.start();
    await until(() => a.t.isConnected(2), "connected on the second try");
    expect(conns).toBe(2);
    expect(a.t.stats().badFrames).toBe(1);
    expect(a.logs.find((l) => l.level === "warn" && l.obj.err === "LNC_PEER_FRAME_CRC")?.obj).toMatchObject({ peer: 2 });
  });

  it("refuses a hello from a node id that is not a configured peer", async () => {
    const [, b] = await cluster(2);
    for (const nodeId of [7, 2]) {
      const r = await raw(b!.t.address().port);
      r.s.write(encodePeerFrame({ t: "hello", nodeId, info: {} }));
      await r.closed;
      expect(r.frames).toEqual([]);
      expect(b!.logs.find((l) => l.level === "warn" && l.obj.nodeId === nodeId)?.obj.remote).toMatch(/127\.0\.0\.1:\d+/);
    }
    // A first frame that is not a hello is refused too.
    const r = await raw(b!.t.address().port);
    r.s.write(encodePeerFrame({ t: "m", m: 1 }));
    await r.closed;
    expect(b!.inbox).toEqual([]);
  });

  it("reconnects to a peer that restarts, quietly while it is down", async () => {
    const [a, b] = await cluster(2);
    const port = b!.t.address().port;
    await b!.t.stop();
    await until(() => !a!.t.isConnected(2), "a sees b down");
    expect(a!.t.send(2, { lost: true })).toBe(false);
    await sleep(300); // several refused redials
    expect(a!.logs.filter((l) => l.level === "warn")).toEqual([]);
    expect(a!.logs.some((l) => l.level === "debug" && l.obj.err === "ECONNREFUSED")).toBe(true);
    const b2 = makeNode(2, port, [{ id: 1, host: "127.0.0.1", port: a!.t.address().port }]);
    await b2.t.start();
    await until(() => a!.t.isConnected(2) && b2.t.isConnected(1), "reconnected both ways");
    expect(a!.events).toEqual(["2:up", "2:down", "2:up"]);
    expect(a!.t.send(2, { back: 1 })).toBe(true);
    expect(b2.t.send(1, { back: 2 })).toBe(true);
    await until(() => b2.inbox.length === 1 && a!.inbox.length === 1, "messages after the restart");
    expect(b2.inbox[0]).toEqual({ from: 1, msg: { back: 1 } });
    expect(a!.inbox[0]).toEqual({ from: 2, msg: { back: 2 } });
  });

  it("drops instead of queueing past maxQueueBytes when the peer does not read", async () => {
    // A fake peer that does the handshake and then never reads again.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.on("error", () => {});
      s.once("data", () => {
        s.pause();
        s.write(encodePeerFrame({ t: "hello", nodeId: 2, info: {} }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const maxQueueBytes = 256 * 1024;
    const a = makeNode(1, 0, [{ id: 2, host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }], { maxQueueBytes });
    await a.t.start();
    await until(() => a.t.isConnected(2), "connected");
    const msg = { data: payload(64 * 1024, 5) };
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 200 && refused < 1000; round++) {
      for (let i = 0; i < 50; i++) (a.t.send(2, msg) ? accepted++ : refused++);
      await sleep(1); // let the kernel buffers fill
    }
    expect(refused).toBeGreaterThan(0);
    // Kernel socket buffers take some; the transport's own queue stays bounded.
    expect(accepted * 64 * 1024).toBeLessThan(64 * 1024 * 1024);
    expect(a.t.stats().dropped).toBe(refused);
    expect(a.t.isConnected(2)).toBe(true);
  });

  it("notices a blackholed connection by its missing pongs and reconnects when the partition heals", async () => {
    const portB = await freePort();
    const portA = await freePort();
    const proxy = await FaultProxy.start({ host: "127.0.0.1", port: portB });
    cleanups.push(() => proxy.close());
    const hb = { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300, handshakeTimeoutMs: 300 };
    const a = makeNode(1, portA, [{ id: 2, host: "127.0.0.1", port: proxy.port }], hb);
    const b = makeNode(2, portB, [{ id: 1, host: "127.0.0.1", port: portA }], hb);
    await Promise.all([a.t.start(), b.t.start()]);
    await until(() => a.t.isConnected(2), "connected through the proxy");
    proxy.setMode("blackhole");
    a.t.send(2, { lost: true });
    await until(() => !a.t.isConnected(2), "a notices the partition");
    expect(a.logs.some((l) => l.level === "warn" && /unresponsive/.test(l.msg ?? ""))).toBe(true);
    await sleep(400);
    expect(a.t.isConnected(2)).toBe(false); // redials fail the hello while blackholed
    proxy.setMode("pass");
    await until(() => a.t.isConnected(2), "reconnected after the partition");
    expect(a.t.send(2, { healed: true })).toBe(true);
    await until(() => b.inbox.some((e) => (e.msg as { healed?: boolean }).healed === true), "message after healing");
    expect(b.inbox.some((e) => (e.msg as { lost?: boolean }).lost === true)).toBe(false);
    proxy.setMode("reset");
    await until(() => !a.t.isConnected(2), "a sees the reset");
    proxy.setMode("pass");
    await until(() => a.t.isConnected(2), "reconnected after the reset");
  });
});

describe.skipIf(opensslMissing !== null)(`Transport with mutual TLS${opensslMissing ? ` (skipped: ${opensslMissing})` : ""}`, () => {
  let certs: TestCerts;
  let nodeTls: { cert: Buffer; key: Buffer; ca: Buffer };
  beforeAll(() => {
    certs = makeTestCerts();
    // Each node is server and client with one certificate: it needs both extended key usages.
    const p = (f: string) => join(certs.dir, f);
    const run = (...args: string[]) => execFileSync("openssl", args, { cwd: certs.dir, stdio: "pipe" });
    writeFileSync(p("node.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("node.key"), "-out", p("node.csr"), "-subj", "/CN=lance-node");
    run("x509", "-req", "-in", p("node.csr"), "-CA", p("test-ca.pem"), "-CAkey", p("test-ca.key"), "-CAcreateserial", "-out", p("node.pem"), "-days", "2", "-extfile", p("node.ext"));
    nodeTls = { cert: readFileSync(p("node.pem")), key: readFileSync(p("node.key")), ca: readFileSync(certs.ca) };
  });

  it("round-trips messages between mutually authenticated nodes", async () => {
    const nodes = await cluster(3, () => ({ tls: nodeTls }));
    expect(nodes[0]!.t.send(3, { data: payload(5000, 9) })).toBe(true);
    expect(nodes[2]!.t.send(1, { data: payload(10, 1) })).toBe(true);
    await until(() => nodes[2]!.inbox.length === 1 && nodes[0]!.inbox.length === 1, "TLS messages");
    expect(Buffer.from((nodes[2]!.inbox[0]!.msg as { data: Uint8Array }).data).equals(Buffer.from(payload(5000, 9)))).toBe(true);
    expect(nodes[1]!.t.peerInfo(3)).toEqual({ client: "127.0.0.1:1003" });
  });

  it("refuses a dialer without a client certificate, or with one from another CA", async () => {
    const [, b] = await cluster(2, () => ({ tls: nodeTls }));
    const port = b!.t.address().port;
    const attempt = (opts: tls.ConnectionOptions) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: "127.0.0.1", port, ca: nodeTls.ca, checkServerIdentity: () => undefined, ...opts }, () => {
          s.write(encodePeerFrame({ t: "hello", nodeId: 1, info: {} }));
        });
        const d = new PeerFrameDecoder();
        s.on("data", (c: Buffer) => d.push(c, () => resolve("hello reply")));
        s.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
        s.on("close", () => resolve("closed"));
        cleanups.push(() => s.destroy());
      });
    expect(await attempt({})).not.toBe("hello reply");
    expect(await attempt({ cert: readFileSync(certs.otherClientCert), key: readFileSync(certs.otherClientKey) })).not.toBe("hello reply");
    expect(b!.inbox).toEqual([]);
    await until(() => b!.logs.some((l) => l.level === "warn" && /TLS handshake/.test(l.msg ?? "")), "the refusal is logged");
  });

  it("a plaintext dialer at a TLS listener fails cleanly and says so", async () => {
    const tlsPort = await freePort();
    const b = makeNode(2, tlsPort, [], { tls: nodeTls });
    await b.t.start();
    const a = makeNode(1, 0, [{ id: 2, host: "127.0.0.1", port: tlsPort }], { handshakeTimeoutMs: 1000 });
    await a.t.start();
    await until(() => a.logs.some((l) => l.level === "warn"), "the plaintext dialer logs the failure");
    expect(a.t.isConnected(2)).toBe(false);
    expect(a.t.send(2, {})).toBe(false);
    expect(b.inbox).toEqual([]);
  });
});
