/**
 * Multi-process cluster harness for apps/lance tests: N real `lance` processes (the BUILT
 * binary, dist/main.js) on loopback, optionally with a FaultProxy on every directed
 * node-to-node link (so a node can be partitioned), plus the tools the tests need: kill /
 * stop / restart / wipe a node, cluster status, the leader, a digest of a topic's content as
 * a node serves it, and a sequenced producer checked with lnc chaos' ChaosChecker.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attemptOutcome, chaosProblems, checkChaosStream, encodeChaosPayload, type AttemptOutcome, type ChaosCheckResult, type ProducedRecord } from "@lance/cli";
import { Admin, Connection, Consumer, LanceClient, Producer, encodeTlv, type ClusterStatus } from "@lance/client";
import { FaultProxy, type FaultMode } from "@lance/test-support";
import { LANCE } from "./test-lance.js";

export { LANCE };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * `n` distinct free ports: all listeners are held open until every port is known, so no two
 * of them (nor a later port-0 bind of this process) can get the same one.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createNetServer>>((resolve, reject) => {
      const srv = createNetServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => resolve(srv));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message ?? String(last)}` : ""}`);
}

export interface ClusterNode {
  id: number;
  dataDir: string;
  clientPort: number;
  replPort: number;
  healthPort: number | null;
  /** `127.0.0.1:clientPort` */
  address: string;
  proc: ChildProcess | null;
  /** Log lines of every run of this node (stdout JSON lines and stderr). */
  logs: string[];
  /** Resolves with the exit code (or signal name) of the current process. */
  exited: Promise<number | string | null>;
}

export interface ClusterOptions {
  nodes?: number;
  /** FaultProxy on every directed node-to-node link (needed for `partition`). */
  proxies?: boolean;
  mode?: "l1" | "l3";
  /** Serve /health on a port per node. */
  health?: boolean;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

const all = new Set<TestCluster>();

/** SIGKILLs every cluster a test started and did not close (a failed assertion must not leak servers). */
export async function closeAllClusters(): Promise<void> {
  for (const c of [...all]) await c.close();
}

export class TestCluster {
  readonly nodes: ClusterNode[] = [];
  /** links.get(`${from}>${to}`): the proxy `from` dials to reach `to`. */
  readonly links = new Map<string, FaultProxy>();
  private readonly root: string;

  private constructor(private readonly options: ClusterOptions) {
    this.root = mkdtempSync(join(tmpdir(), "lance-cluster-"));
    all.add(this);
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const c = new TestCluster(options);
    const n = options.nodes ?? 3;
    // Every port (nodes and proxies) from one batch: a proxy bound to port 0 after the nodes'
    // ports were picked (and released) could otherwise take one of them.
    const ports = await freePorts(n * (options.health ? 3 : 2) + (options.proxies ? n * (n - 1) : 0));
    for (let id = 1; id <= n; id++) {
      const clientPort = ports.pop()!;
      const replPort = ports.pop()!;
      const healthPort = options.health ? ports.pop()! : null;
      c.nodes.push({
        id,
        dataDir: join(c.root, `node${id}`),
        clientPort,
        replPort,
        healthPort,
        address: `127.0.0.1:${clientPort}`,
        proc: null,
        logs: [],
        exited: Promise.resolve(null),
      });
    }
    if (options.proxies) {
      for (const from of c.nodes) {
        for (const to of c.nodes) {
          if (from === to) continue;
          c.links.set(`${from.id}>${to.id}`, await FaultProxy.start({ host: "127.0.0.1", port: to.replPort }, ports.pop()!));
        }
      }
    }
    await Promise.all(c.nodes.map((node) => c.startNode(node.id)));
    return c;
  }

  node(id: number): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  get addresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  live(): ClusterNode[] {
    return this.nodes.filter((n) => n.proc !== null);
  }

  private peersFor(node: ClusterNode): string {
    return this.nodes
      .map((p) => {
        if (p === node || !this.options.proxies) return `${p.id}@127.0.0.1:${p.replPort}`;
        return `${p.id}@127.0.0.1:${this.links.get(`${node.id}>${p.id}`)!.port}`;
      })
      .join(",");
  }

  /** Spawns node `id` (it must not be running) and waits for its "lance ready" line. */
  async startNode(id: number, extraArgs: string[] = []): Promise<ClusterNode> {
    const node = this.node(id);
    if (node.proc) throw new Error(`node ${id} is already running`);
    const args = [
      LANCE,
      "--node-id", String(id),
      "--peers", this.peersFor(node),
      "--replication-addr", `127.0.0.1:${node.replPort}`,
      "--listen", node.address,
      "--data-dir", node.dataDir,
      "--health", node.healthPort === null ? "off" : `127.0.0.1:${node.healthPort}`,
      "--metrics", "off",
      ...(this.options.mode ? ["--replication-mode", this.options.mode] : []),
      ...(this.options.extraArgs ?? []),
      ...extraArgs,
    ];
    const proc = spawn(process.execPath, args, { env: { ...process.env, ...this.options.env }, stdio: ["ignore", "pipe", "pipe"] });
    node.proc = proc;
    node.logs.push(`--- start node ${id} pid ${proc.pid} ---`);
    node.exited = new Promise((resolve) =>
      proc.on("exit", (code, signal) => {
        if (node.proc === proc) node.proc = null;
        node.logs.push(`--- node ${id} exited ${code ?? signal} ---`);
        resolve(code ?? signal);
      }),
    );
    let buf = "";
    proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        node.logs.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    proc.stderr!.on("data", (d: Buffer) => node.logs.push(`stderr: ${d.toString()}`));
    const mark = node.logs.length;
    await Promise.race([
      waitFor(`node ${id} "lance ready"`, () => this.logSince(id, mark, "lance ready"), 30_000, 10),
      node.exited.then((code) => {
        throw new Error(`node ${id} exited with ${code} before it was ready:\n${node.logs.slice(-30).join("\n")}`);
      }),
    ]);
    return node;
  }

  /** The first log line of node `id` at or after `from` whose msg contains `text` (or null). */
  logSince(id: number, from: number, text: string): string | null {
    const logs = this.node(id).logs;
    for (let i = from; i < logs.length; i++) {
      const line = logs[i]!;
      if (!line.includes(text)) continue;
      try {
        const j = JSON.parse(line) as { msg?: string };
        if (j.msg?.includes(text)) return line;
      } catch {
        /* not JSON */
      }
    }
    return null;
  }

  /**
   * Sends `signal` to node `id` and waits for it to exit; returns the exit code (or signal
   * name). A node still running after `timeoutMs` (SIGTERM drains for at most 25 s) is an error.
   */
  async kill(id: number, signal: NodeJS.Signals = "SIGKILL", timeoutMs = 30_000): Promise<number | string | null> {
    const node = this.node(id);
    const proc = node.proc;
    if (!proc) return null;
    proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      node.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`node ${id} (pid ${proc.pid}) still running ${timeoutMs} ms after ${signal}; last log lines:\n${node.logs.slice(-15).join("\n")}`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    node.proc = null;
    return code;
  }

  /** SIGKILL then starts again on the same data dir. */
  async restart(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<ClusterNode> {
    await this.kill(id, signal);
    return this.startNode(id);
  }

  /** rm -rf the data dir of a stopped node. */
  wipe(id: number): void {
    const node = this.node(id);
    if (node.proc) throw new Error(`node ${id} is running`);
    rmSync(node.dataDir, { recursive: true, force: true });
  }

  link(from: number, to: number): FaultProxy {
    const l = this.links.get(`${from}>${to}`);
    if (!l) throw new Error(`no proxy for link ${from}>${to} (start the cluster with proxies: true)`);
    return l;
  }

  /** Every link to and from node `id` in `mode` (blackhole isolates it). */
  isolate(id: number, mode: FaultMode = "blackhole"): void {
    for (const [key, proxy] of this.links) {
      const [a, b] = key.split(">").map(Number);
      if (a === id || b === id) proxy.setMode(mode);
    }
  }

  healAll(): void {
    for (const proxy of this.links.values()) proxy.setMode("pass");
  }

  async status(id: number, timeoutMs = 1_000): Promise<ClusterStatus> {
    const conn = await Connection.connect(this.node(id).address, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
    try {
      return await conn.clusterStatus();
    } finally {
      conn.close();
    }
  }

  /** Statuses of the running nodes that answered. */
  async statuses(): Promise<Map<number, ClusterStatus>> {
    const out = new Map<number, ClusterStatus>();
    await Promise.all(
      this.live().map(async (n) => {
        try {
          out.set(n.id, await this.status(n.id));
        } catch {
          /* not answering */
        }
      }),
    );
    return out;
  }

  /**
   * Waits for a leader among the running nodes (not in `exclude`) that the other running
   * nodes not in `exclude` also name; returns its id.
   */
  async waitLeader(opts: { exclude?: number[]; timeoutMs?: number; agreed?: boolean } = {}): Promise<number> {
    const exclude = new Set(opts.exclude ?? []);
    return waitFor(
      "a leader",
      async () => {
        const st = await this.statuses();
        const leaders = [...st.values()].filter((s) => !exclude.has(s.nodeId) && s.isLeader && s.raft?.role === "leader");
        if (leaders.length !== 1) return null;
        const leader = leaders[0]!;
        if (opts.agreed !== false) {
          for (const n of this.live()) {
            if (exclude.has(n.id)) continue;
            if (st.get(n.id)?.leaderId !== leader.nodeId) return null;
          }
        }
        return leader.nodeId;
      },
      opts.timeoutMs ?? 15_000,
    );
  }

  /** Waits until every running node (or `ids`) applied at least the leader's commit index. */
  async waitCaughtUp(ids?: number[], timeoutMs = 20_000): Promise<void> {
    const leader = await this.waitLeader({ timeoutMs });
    await waitFor(
      "followers caught up",
      async () => {
        const target = (await this.status(leader)).raft!.commitIndex;
        for (const id of ids ?? this.live().map((n) => n.id)) {
          const s = await this.status(id);
          if (!s.raft || s.raft.appliedIndex < target) return null;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** GET /health/ready of node `id`: the HTTP status. */
  healthReady(id: number): Promise<{ status: number; body: string }> {
    const port = this.node(id).healthPort;
    if (port === null) throw new Error("cluster started without health");
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/health/ready", timeout: 2_000 }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("health timeout")));
      req.end();
    });
  }

  /** Creates (or finds) a topic through the cluster; returns its id once the running nodes (or `ids`) have it. */
  async ensureTopic(name: string, ids?: number[]): Promise<number> {
    const client = new LanceClient({ servers: this.addresses, connectTimeoutMs: 1_000, requestTimeoutMs: 3_000, retry: { maxAttempts: 60, baseDelayMs: 50, maxDelayMs: 250 } });
    let id: number;
    try {
      id = (await new Admin(client).ensureTopic(name)).id;
    } finally {
      client.close();
    }
    // A follower that has not applied the creation yet answers a write for it with "Unknown
    // topic" (not NOT_LEADER), which no client retries: wait until every running node has it.
    await waitFor(`topic ${name} on every node`, async () => {
      for (const n of ids ? ids.map((i) => this.node(i)) : this.live()) {
        const conn = await Connection.connect(n.address, { connectTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
        try {
          await conn.endOffset(id);
        } finally {
          conn.close();
        }
      }
      return true;
    });
    return id;
  }

  /**
   * A digest of topic `topicId` as node `id` serves it: every fetch reply from offset 0 to
   * the end (offsets, record counts and the stored bytes), plus the end offset and byte count.
   */
  async topicDigest(id: number, topicId: number): Promise<{ sha256: string; end: bigint; bytes: number; fetches: number }> {
    const conn = await Connection.connect(this.node(id).address, { connectTimeoutMs: 1_000, requestTimeoutMs: 5_000 });
    try {
      const h = createHash("sha256");
      let offset = 0n;
      let bytes = 0;
      let fetches = 0;
      for (;;) {
        const r = await conn.fetch(topicId, offset, 1024 * 1024);
        fetches++;
        if (r.kind === "catchingUp" || r.data.byteLength === 0) break;
        const start = r.nextOffset - BigInt(r.recordCount);
        h.update(`${start}:${r.recordCount}:${r.data.byteLength}\n`);
        h.update(r.data);
        bytes += r.data.byteLength;
        offset = r.nextOffset;
      }
      h.update(`end ${offset}`);
      return { sha256: h.digest("hex"), end: offset, bytes, fetches };
    } finally {
      conn.close();
    }
  }

  /** Waits until every running node (or `ids`) serves the same content of `topicId`; returns the digest. */
  async waitConverged(topicId: number, ids?: number[], timeoutMs = 20_000): Promise<{ sha256: string; end: bigint; bytes: number }> {
    const which = ids ?? this.live().map((n) => n.id);
    let last = "";
    try {
      return await waitFor(
        `topic ${topicId} identical on nodes ${which.join(",")}`,
        async () => {
          const ds = await Promise.all(which.map((id) => this.topicDigest(id, topicId)));
          last = ds.map((d, i) => `node ${which[i]}: end ${d.end} ${d.bytes} B ${d.sha256.slice(0, 12)}`).join("; ");
          return ds.every((d) => d.sha256 === ds[0]!.sha256) ? ds[0]! : null;
        },
        timeoutMs,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message} (last: ${last})`);
    }
  }

  /** The last `n` log lines of every node (for failure messages). */
  dumpLogs(n = 40): string {
    return this.nodes.map((node) => `==== node ${node.id} ====\n${node.logs.slice(-n).join("\n")}`).join("\n");
  }

  async close(): Promise<void> {
    all.delete(this);
    for (const n of this.nodes) {
      n.proc?.kill("SIGKILL");
    }
    await Promise.all(this.nodes.map((n) => n.exited));
    for (const p of this.links.values()) await p.close().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface AckEvent {
  seq: number;
  /** performance.now() when the ack arrived. */
  at: number;
  /** The address the producer's client was using. */
  server: string;
}

/**
 * A sequenced closed-loop producer (lnc chaos' record format and ChaosChecker): one ingest in
 * flight, each carrying one chaos record; every attempt's outcome is kept and every ack is
 * timestamped. `check()` reads the topic back from the start (from any node, as often as
 * wanted) and returns the ChaosChecker's verdict over the whole producer log.
 */
export class SequencedLoad {
  readonly runId = randomBytes(8).readBigUInt64LE(0);
  /** Producer log: per sequence number, each attempt's outcome and the final one. */
  readonly produced: ProducedRecord[] = [];
  readonly acks: AckEvent[] = [];
  readonly errors: string[] = [];
  retries = 0;
  private seq = 0;
  private stopped = false;
  private readonly client: LanceClient;
  private readonly producer: Producer;
  private readonly seqOf = new WeakMap<Uint8Array, number>();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly servers: string[],
    readonly topicId: number,
    private readonly options: { size?: number; pauseMs?: number } = {},
  ) {
    this.client = new LanceClient({
      servers,
      connectTimeoutMs: 500,
      requestTimeoutMs: 3_000,
      retry: { maxAttempts: 200, baseDelayMs: 10, maxDelayMs: 100 },
      onRetry: () => void this.retries++,
    });
    this.producer = new Producer(this.client, {
      topicId,
      lingerMs: 0,
      maxInFlight: 1,
      onIngestAttempt: (a) => {
        const s = this.seqOf.get(a.payload);
        if (s !== undefined) (this.produced[s - 1]!.attempts as AttemptOutcome[]).push(a.error === undefined ? "acked" : attemptOutcome(a.error));
      },
    });
  }

  get acked(): number {
    return this.acks.length;
  }

  start(): this {
    this.loops.push(this.loop());
    return this;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const s = ++this.seq;
      const rec: ProducedRecord = { seq: s, attempts: [], final: "pending" };
      this.produced.push(rec);
      const payload = encodeTlv([encodeChaosPayload(this.runId, BigInt(s), this.options.size ?? 128)]);
      this.seqOf.set(payload, s);
      try {
        await this.producer.sendPayload(payload, 1);
        rec.final = "acked";
        this.acks.push({ seq: s, at: performance.now(), server: this.client.server });
      } catch (err) {
        rec.final = "failed";
        this.errors.push(`seq ${s}: ${(err as Error).message}`);
      }
      if (this.options.pauseMs) await sleep(this.options.pauseMs);
    }
  }

  /** The first ack that arrived after `since` (performance.now() time). */
  firstAckAfter(since: number): AckEvent | undefined {
    return this.acks.find((a) => a.at > since);
  }

  /** Resolves once `n` more acks arrived than now. */
  async waitAcks(n: number, timeoutMs = 15_000): Promise<void> {
    const target = this.acked + n;
    await waitFor(`${n} more acks (have ${this.acked}, errors ${this.errors.slice(-3).join("; ")})`, () => this.acked >= target, timeoutMs, 10);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.producer.flush();
  }

  /** Reads the whole topic (from node `server`, or the cluster) and returns the checker's verdict. */
  async check(server?: string): Promise<{ result: ChaosCheckResult; problems: string[] }> {
    const client = new LanceClient({ ...(server ? { server } : { servers: this.servers }), connectTimeoutMs: 1_000, requestTimeoutMs: 5_000, retry: { maxAttempts: 30, baseDelayMs: 50, maxDelayMs: 500 } });
    const consumed: Array<{ offset: bigint; value: Uint8Array }> = [];
    try {
      const end = await client.call((c) => c.endOffset(this.topicId));
      const consumer = new Consumer(client, { topicId: this.topicId, start: "earliest", follow: false, maxFetchBytes: 1024 * 1024 });
      for await (const e of consumer) {
        if (e.kind === "record") consumed.push({ offset: e.offset, value: e.value });
        if ((consumer.position ?? 0n) >= end) break;
      }
      consumer.close();
    } finally {
      client.close();
    }
    const result = checkChaosStream(this.runId, this.produced, consumed);
    return { result, problems: chaosProblems(result) };
  }

  close(): void {
    this.stopped = true;
    this.client.close();
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
