import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { Server as HttpServer } from "node:http";
import { TopicWriter } from "@lance/index";
import { encodeMessage, type ClusterStatus, type RaftStatus } from "@lance/protocol";
import { walDir } from "@lance/segment-format";
import { Wal, type WalLogEvent } from "@lance/wal";
import { TokenAuth } from "./auth.js";
import { Broker } from "./broker.js";
import { Replica } from "./cluster/replica.js";
import { ReplicaLog } from "./cluster/replica-log.js";
import { finishSnapshotInstall, swapInSnapshot } from "./cluster/snapshot.js";
import { StateMachine } from "./cluster/state-machine.js";
import { Transport } from "./cluster/transport.js";
import { resolveConfig, votersOf, type HostPort, type ServerConfig, type ServerConfigInput } from "./config.js";
import { Connection } from "./connection.js";
import { ConsumerOffsets } from "./consumer-offsets.js";
import { startHttp, type HealthState } from "./http.js";
import { defaultLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { TLS_HANDSHAKE_RECORD, loadTlsMaterial, peerCommonName } from "./tls.js";
import { ConnectionLimiter } from "./limits.js";
import { TopicRegistry } from "./topic-registry.js";
import { WritePath } from "./write-path.js";

export interface LanceServer {
  readonly config: ServerConfig;
  readonly metrics: Metrics;
  /** Recovers the data dir (WAL replay, segment tails, indexes), then binds the listeners. */
  start(): Promise<void>;
  /**
   * Drains: stops accepting, answers every in-flight request (acks only after fsync),
   * checkpoints, closes files. Resolves `{ drained: false }` if the drain timeout expired first
   * (connections were then cut).
   */
  stop(): Promise<{ drained: boolean }>;
  /**
   * Re-reads what may change without a restart (SIGHUP): the `[auth]` token file and the `[tls]`
   * certificate, key and CA. Open connections are kept; new TLS connections use the new
   * certificate. On error the previous settings stay in force and the error is thrown.
   */
  reload(): Promise<ReloadReport>;
  /** The bound client address (after start). */
  address(): HostPort;
  health(): HealthState;
}

export interface ReloadReport {
  /** Tokens in force after the reload (0 with auth disabled). */
  tokens: number;
  /** Whether TLS material was reloaded (false: TLS disabled). */
  tls: boolean;
}

/** What a plaintext client on the TLS port is told before the connection closes. */
export const TLS_REQUIRED_TEXT = "TLS required: this port accepts TLS connections only (connect with --tls)";
/** How long a refused plaintext connection is kept to answer its first request with the reason. */
const REFUSAL_REPLY_WAIT_MS = 2_000;

export function createServer(input: ServerConfigInput & { logger?: Logger }): LanceServer {
  const config = resolveConfig(input);
  const log = input.logger ?? defaultLogger();
  const auth = new TokenAuth(config.auth);
  const tlsMaterial = config.tls.enabled ? loadTlsMaterial(config.tls) : null;
  /**
   * Does the TLS handshakes of the client port (it never listens itself: the TCP listener hands
   * it the sockets whose first byte is a TLS handshake record).
   */
  const tlsServer: TlsServer | null = tlsMaterial
    ? createTlsServer({
        ...tlsMaterial,
        requestCert: config.tls.requireClientCert,
        rejectUnauthorized: config.tls.requireClientCert,
        handshakeTimeout: config.limits.firstFrameTimeoutMs,
      })
    : null;
  /** Accepted sockets not yet Connections (TLS setup), by peer address: destroyed by stop(). */
  const handshaking = new Map<string, Socket>();
  const limiter = new ConnectionLimiter(config.limits);
  /** Connections over a limit, kept briefly to tell the client why. */
  const refusing = new Set<Socket>();
  let registry: TopicRegistry | null = null;
  const metrics = createMetrics(
    () => (registry?.list() ?? []).map((t) => ({ topic: t.meta.name, segments: t.writer.catalog().entries.filter((e) => e.kind === "segment").length })),
    () => {
      if (!replica?.started) return null;
      const s = replica.status();
      const peerLag = [...replica.progress()].filter(([id]) => id !== config.nodeId).map(([id, p]) => ({ peer: String(id), lag: Math.max(0, s.lastIndex - p.match) }));
      return { term: s.term, isLeader: s.role === "leader", commit: s.commit, applied: s.applied, lastIndex: s.lastIndex, peerLag };
    },
  );
  let wal: Wal | null = null;
  let writes: WritePath | null = null;
  let replica: Replica | null = null;
  let transport: Transport | null = null;
  let tcp: TcpServer | null = null;
  const http: HttpServer[] = [];
  const connections = new Set<Connection>();
  const timers: NodeJS.Timeout[] = [];
  let state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";

  const health = (): HealthState => {
    const reasons: string[] = [];
    if (state !== "running") reasons.push(`server is ${state}`);
    if (writes?.failed) reasons.push(writes.failed.message);
    if (replica?.quorumLost) reasons.push("Quorum lost: no leader reachable; writes are refused (read-only)");
    return { live: state !== "stopped", ready: reasons.length === 0, reasons };
  };

  async function start(): Promise<void> {
    if (state !== "new") throw new Error(`server already ${state}`);
    state = "starting";
    const t0 = Date.now();
    mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
    // Runbook 4.2 moves damaged segments here with a plain `mv`, which needs the directory.
    mkdirSync(join(config.dataDir, "quarantine"), { recursive: true, mode: 0o750 });
    const dir = config.wal.dir ?? walDir(config.dataDir);
    const security = {
      auth: auth.enabled ? { tokens: auth.tokenCount, writeOnly: config.auth.writeOnly } : false,
      tls: config.tls.enabled ? { requireClientCert: config.tls.requireClientCert } : false,
    };
    const clustered = config.cluster.peers.some((p) => p.id !== config.nodeId);
    const mode = clustered ? { cluster: votersOf(config), replication: config.cluster.mode } : { standalone: true };
    log.info({ dataDir: config.dataDir, wal: dir, nodeId: config.nodeId, readOnly: config.readOnly, ...mode, ...security }, clustered ? "starting lance (cluster)" : "starting lance (standalone)");
    wal = await Wal.open(dir, {
      segmentSize: config.wal.segmentSize,
      groupCommitWindowMs: config.wal.groupCommitWindowMs,
      maxBatchBytes: config.wal.maxBatchBytes,
      logger: (e) => logWalEvent(log, e),
    });
    await finishInterruptedSnapshot(config.dataDir, wal, log);
    registry = new TopicRegistry(config.dataDir, writerOptions(config), log);
    registry.load();
    const voters = votersOf(config);
    const raftLog = await ReplicaLog.load(wal, { singleVoter: voters.length === 1, warn: (o, m) => log.warn(o, m) });
    const sm = new StateMachine(config.dataDir, registry, new ConsumerOffsets(config.dataDir), metrics, log, wal.checkpoint().index);
    const peers = config.cluster.peers.filter((p) => p.id !== config.nodeId);
    const advertise = advertisedClientAddr(config);
    transport = peers.length > 0
      ? new Transport({
          nodeId: config.nodeId,
          listen: config.cluster.replicationAddr,
          peers,
          info: { clientAddr: advertise },
          onMessage: (from, m) => replica?.step(from, m),
          // A silent (partitioned) peer is reported unreachable within about a second, close to
          // when Raft's check-quorum notices; the default 5 s made status and errors lag.
          heartbeatIntervalMs: 250,
          heartbeatTimeoutMs: 1_200,
          logger: log.child({ component: "transport" }),
          tls: tlsMaterial && config.tls.caPath ? { cert: tlsMaterial.cert, key: tlsMaterial.key, ca: tlsMaterial.ca! } : null,
        })
      : null;
    if (transport && tlsMaterial && !config.tls.caPath) {
      log.warn({}, "[tls] has no ca_path: node-to-node traffic is not encrypted (TLS applies to the client port only)");
    }
    replica = new Replica(
      {
        nodeId: config.nodeId,
        voters,
        mode: config.cluster.mode,
        tickMs: config.cluster.tickMs,
        electionTick: config.cluster.electionTick,
        heartbeatTick: config.cluster.heartbeatTick,
        proposalTimeoutMs: config.cluster.proposalTimeoutMs,
        keepLogBytes: config.cluster.keepLogBytes,
        dataDir: config.dataDir,
        verifyTopic: (d) => TopicWriter.open(d, writerOptions(config)).close(),
      },
      raftLog,
      sm,
      transport,
      log.child({ component: "raft" }),
      metrics,
    );
    const clientAddressOf = (id: number): string | null => {
      if (id === config.nodeId) return advertise;
      const a = transport?.peerInfo(id)?.clientAddr;
      return typeof a === "string" ? a : null;
    };
    writes = new WritePath(replica, sm, { mode: config.cluster.mode, keepLogBytes: config.cluster.keepLogBytes, clientAddressOf });
    replica.start();
    if (transport) await transport.start();
    else await untilWritable(replica);
    await writes.checkpoint();
    log.info({ applied: sm.applied, lastIndex: raftLog.lastIndex(), voters, topics: registry.list().length, ms: Date.now() - t0 }, "recovery complete");
    const broker = new Broker(config, registry, writes, sm.offsets, metrics, log, auth, () => clusterStatus(config, replica!, transport));

    const attach = (socket: Socket) => {
      metrics.connectionsActive.inc();
      const limits = {
        maxPayloadSize: config.maxPayloadSize,
        maxInFlight: config.maxInFlightPerConnection,
        maxInFlightBytes: config.limits.maxInFlightBytesPerConnection,
        firstFrameTimeoutMs: config.limits.firstFrameTimeoutMs,
        idleTimeoutMs: config.limits.idleTimeoutMs,
        maxSendBufferBytes: config.limits.maxSendBufferBytes,
        sendStallTimeoutMs: config.limits.sendStallTimeoutMs,
      };
      const c = new Connection(socket, broker, limits, metrics, log, (gone) => {
        connections.delete(gone);
        metrics.connectionsActive.dec();
      });
      connections.add(c);
    };
    const refuse = (peer: string, type: string, msg: string, extra: object = {}) => {
      metrics.errors.inc({ type });
      log.warn({ peer, ...extra }, msg);
    };
    const acceptSecure = (socket: Socket, tls: TlsServer) => {
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      handshaking.set(peer, socket);
      const timer = setTimeout(() => {
        metrics.limitEvents.inc({ limit: "first_frame_timeout" });
        log.warn({ peer, code: "LNC_LIMIT_FIRST_FRAME_TIMEOUT" }, `closing connection: no TLS handshake within ${config.limits.firstFrameTimeoutMs} ms (first_frame_timeout)`);
        socket.destroy();
      }, config.limits.firstFrameTimeoutMs);
      socket.on("error", (err) => log.debug({ peer, err: err.message }, "client socket error during TLS setup"));
      socket.on("close", () => {
        clearTimeout(timer);
        if (handshaking.get(peer) === socket) handshaking.delete(peer);
      });
      socket.once("data", (chunk: Buffer) => {
        clearTimeout(timer);
        socket.pause();
        if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
          refuse(peer, "tls_plaintext_client", "plaintext client on the TLS port: refused");
          socket.end(encodeMessage({ type: "errorResponse", message: TLS_REQUIRED_TEXT }), () => socket.destroy());
          return;
        }
        socket.unshift(chunk);
        tls.emit("connection", socket);
      });
    };
    if (tlsServer) {
      tlsServer.on("secureConnection", (secure: TLSSocket) => {
        const peer = `${secure.remoteAddress}:${secure.remotePort}`;
        handshaking.delete(peer);
        if (state !== "running") return secure.destroy();
        log.debug({ peer, protocol: secure.getProtocol(), clientCN: peerCommonName(secure) }, "TLS connection established");
        attach(secure);
      });
      tlsServer.on("tlsClientError", (err: Error & { code?: string }, secure: TLSSocket) => {
        const peer = `${secure.remoteAddress}:${secure.remotePort}`;
        if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") {
          metrics.limitEvents.inc({ limit: "first_frame_timeout" });
          log.warn({ peer, code: "LNC_LIMIT_FIRST_FRAME_TIMEOUT" }, `closing connection: TLS handshake not completed within ${config.limits.firstFrameTimeoutMs} ms (first_frame_timeout)`);
        } else refuse(peer, "tls_handshake", `TLS handshake failed: ${err.message}`);
      });
    }

    tcp = createTcpServer((socket) => {
      if (state !== "running") return socket.destroy();
      const address = socket.remoteAddress ?? "unknown";
      const refused = limiter.admit(address);
      if (refused) {
        metrics.limitEvents.inc({ limit: refused });
        const text = ConnectionLimiter.refusalText(refused, address, config.limits);
        log.warn({ peer: `${address}:${socket.remotePort}`, code: `LNC_LIMIT_${refused.toUpperCase()}` }, `connection refused: ${text}`);
        socket.on("error", () => undefined);
        // A TLS client could not read a plaintext frame: it just sees the close.
        if (tlsServer) return socket.destroy();
        // The error answers the client's first request (a frame before it would be unsolicited).
        socket.once("data", () => socket.end(encodeMessage({ type: "errorResponse", message: text }), () => socket.destroy()));
        setTimeout(() => socket.destroy(), REFUSAL_REPLY_WAIT_MS).unref();
        refusing.add(socket);
        socket.once("close", () => refusing.delete(socket));
        return;
      }
      socket.once("close", () => limiter.release(address));
      metrics.connectionsTotal.inc();
      if (tlsServer) return acceptSecure(socket, tlsServer);
      socket.once("data", (chunk: Buffer) => {
        if (chunk[0] === TLS_HANDSHAKE_RECORD) {
          metrics.errors.inc({ type: "tls_on_plaintext_port" });
          log.warn({ peer: `${socket.remoteAddress}:${socket.remotePort}` }, "TLS handshake on the plaintext port: refused ([tls] is not enabled; the client must connect without TLS)");
        }
      });
      attach(socket);
    });
    await listen(tcp, config.listen);
    for (const [addr, routes] of httpListeners(config, health, metrics)) http.push(await startHttp(addr, routes));

    timers.push(setInterval(() => void writes!.checkpoint().catch((err: Error) => log.error({ err: err.message }, "checkpoint failed")), config.checkpointIntervalMs));
    timers.push(setInterval(() => enforceRetention(registry!, log), config.retentionCheckIntervalMs));
    for (const t of timers) t.unref();
    state = "running";
    log.info({ listen: addressOf(tcp), ...(transport ? { replication: transport.address() } : {}), ms: Date.now() - t0 }, "lance ready");
  }

  async function stop(): Promise<{ drained: boolean }> {
    if (state === "stopped" || state === "new") return { drained: true };
    state = "stopping";
    for (const t of timers) clearInterval(t);
    const closed = tcp ? new Promise<void>((r) => tcp!.close(() => r())) : Promise.resolve();
    for (const c of connections) c.drainAndClose();
    // A write waiting for a majority that is shutting down too should not hold the drain for
    // the whole proposal timeout: its client gets a retryable error after 2 s.
    replica?.hurryWaiters(2_000);
    for (const socket of [...handshaking.values(), ...refusing]) socket.destroy();
    const drained = await Promise.race([
      (async () => {
        while (connections.size > 0) await new Promise((r) => setTimeout(r, 10));
        return true;
      })(),
      new Promise<boolean>((r) => setTimeout(() => r(false), config.drainTimeoutMs).unref()),
    ]);
    if (!drained) {
      log.warn({ connections: connections.size }, "drain timeout: closing connections with requests in flight");
      for (const c of connections) c.destroy();
    }
    await closed;
    if (writes) {
      // Waiting writes are answered within 2 s (hurryWaiters); this bound is a backstop.
      if (!(await writes.drain(5_000))) log.warn({ inFlightBytes: writes.inFlightBytes }, "writes still unanswered after 5 s; stopping anyway");
      await writes.checkpoint().catch((err: Error) => log.error({ err: err.message }, "final checkpoint failed"));
    }
    // Hand leadership over before going away, so clients see a new leader within a round trip.
    if (replica && (await replica.transferLeadership(1_000))) log.info({ leader: replica.status().leader }, "leadership transferred");
    await replica?.stop();
    await transport?.stop();
    await registry?.closeAll();
    await wal?.close();
    await Promise.all(http.map((h) => new Promise<void>((r) => h.close(() => r()))));
    state = "stopped";
    log.info({ drained }, "lance stopped");
    return { drained };
  }

  async function reload(): Promise<ReloadReport> {
    const material = config.tls.enabled ? loadTlsMaterial(config.tls) : null;
    const tokens = auth.reload();
    // Only handshakes from now on use it; established connections keep their session.
    if (material) tlsServer?.setSecureContext(material);
    if (material && transport && config.tls.caPath) transport.setTls({ cert: material.cert, key: material.key, ca: material.ca! });
    log.info({ tokens, tls: material !== null }, "reloaded: auth tokens and TLS material");
    return { tokens, tls: material !== null };
  }

  return {
    config,
    metrics,
    start,
    stop,
    reload,
    address: () => {
      if (!tcp) throw new Error("server not started");
      return addressOf(tcp);
    },
    health,
  };
}

function writerOptions(config: ServerConfig) {
  return { maxSegmentBytes: config.segmentMaxBytes, maxSegmentAgeMs: config.segmentMaxAgeMs ?? Number.POSITIVE_INFINITY, indexIntervalBytes: config.indexIntervalBytes };
}

/** A snapshot install that a crash interrupted after it was unpacked and checked: complete it. */
async function finishInterruptedSnapshot(dataDir: string, wal: Wal, log: Logger): Promise<void> {
  const pending = swapInSnapshot(dataDir);
  if (!pending) return;
  if (wal.checkpoint().index < pending.index) await wal.reset(pending.index, pending.term);
  finishSnapshotInstall(dataDir);
  log.warn(pending, "completed a snapshot install interrupted by a restart");
}

/** A single node elects itself at once; it takes writes once its log is applied. */
async function untilWritable(replica: Replica): Promise<void> {
  while (replica.writeRefusal() !== null) {
    if (replica.failed) throw replica.failed;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Where clients are sent for this node: the listen address, unless it is a wildcard. */
function advertisedClientAddr(config: ServerConfig): string {
  if (config.cluster.advertiseAddr) return config.cluster.advertiseAddr;
  const wildcard = config.listen.host === "0.0.0.0" || config.listen.host === "::" || config.listen.host === "";
  const self = config.cluster.peers.find((p) => p.id === config.nodeId);
  const host = wildcard ? (self?.host ?? "127.0.0.1") : config.listen.host;
  return formatHostPort(host, config.listen.port);
}

function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function clusterStatus(config: ServerConfig, replica: Replica, transport: Transport | null): ClusterStatus {
  const s = replica.status();
  const voters = votersOf(config);
  const others = voters.filter((v) => v !== config.nodeId);
  const connected = others.filter((v) => transport?.isConnected(v));
  const progress = replica.progress();
  const peers: RaftStatus["peers"] = {};
  for (const [id, p] of progress) if (id !== config.nodeId) peers[String(id)] = { matchIndex: p.match, lag: Math.max(0, s.lastIndex - p.match), state: p.state };
  return {
    ...(others.length === 0 ? { mode: "standalone" as const } : {}),
    nodeId: config.nodeId,
    isLeader: s.role === "leader",
    leaderId: s.leader,
    currentTerm: s.term,
    nodeCount: voters.length,
    healthyNodes: connected.length + 1,
    quorumAvailable: s.leader !== null && (s.role !== "leader" || connected.length + 1 > voters.length / 2),
    peerStates: Object.fromEntries(others.map((v) => [String(v), transport?.isConnected(v) ? "Connected" : "Disconnected"])),
    raft: { role: s.role, replicationMode: config.cluster.mode, commitIndex: s.commit, appliedIndex: s.applied, lastIndex: s.lastIndex, peers },
  };
}

function listen(server: TcpServer, addr: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(addr.port, addr.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function addressOf(server: TcpServer): HostPort {
  const a = server.address();
  if (!a || typeof a === "string") throw new Error("server has no TCP address");
  return { host: a.address, port: a.port };
}

/** One HTTP listener per distinct address; health and metrics share one when they are equal. */
function httpListeners(config: ServerConfig, health: () => HealthState, metrics: Metrics) {
  const out: Array<[HostPort, { health?: () => HealthState; metrics?: Metrics["registry"] }]> = [];
  const same = config.healthAddr && config.metricsAddr && config.healthAddr.host === config.metricsAddr.host && config.healthAddr.port === config.metricsAddr.port;
  if (same) out.push([config.healthAddr!, { health, metrics: metrics.registry }]);
  else {
    if (config.healthAddr) out.push([config.healthAddr, { health }]);
    if (config.metricsAddr) out.push([config.metricsAddr, { metrics: metrics.registry }]);
  }
  return out;
}

function enforceRetention(registry: TopicRegistry, log: Logger): void {
  for (const t of registry.list()) {
    const r = t.meta.retention;
    if (!r || (!r.max_bytes && !r.max_age_secs)) continue;
    try {
      const removed = t.writer.enforceRetention({ maxBytes: r.max_bytes, maxAgeMs: r.max_age_secs ? r.max_age_secs * 1000 : null });
      if (removed.length > 0) {
        log.info({ topic: t.meta.name, removed }, "retention removed segments");
      }
    } catch (err) {
      log.error({ topic: t.meta.name, err: (err as Error).message }, "retention failed");
    }
  }
}

function logWalEvent(log: Logger, e: WalLogEvent): void {
  if (e.event === "wal.torn_tail_truncated") log.warn(e, `WAL torn tail truncated: ${e.file} at byte ${e.offset} (${e.bytes} bytes, ${e.reason})`);
  else if (e.event === "wal.recovered") log.info({ ...e.report, checkpoint: e.report.checkpoint, hardState: undefined }, "WAL recovered");
  else log.debug(e, e.event);
}
