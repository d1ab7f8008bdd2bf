import { HEADER_SIZE, MAX_FETCH_RESPONSE_DATA } from "@lance/protocol";
import { LanceError } from "@lance/segment-format";
import { DEFAULT_AUTH, type AuthConfig } from "./auth.js";
import { SecurityError } from "./errors.js";
import { DEFAULT_TLS, tlsConfigProblem, type TlsConfig } from "./tls.js";
import { DEFAULT_LIMITS, checkLimits, type LimitsConfig } from "./limits.js";

export interface HostPort {
  host: string;
  port: number;
}

/** Everything `createServer` needs; `resolveConfig` fills the defaults. */
export interface ServerConfig {
  nodeId: number;
  dataDir: string;
  /** Client LWP listener (port 0 picks a free port). */
  listen: HostPort;
  /** Health HTTP (`/health/live`, `/health/ready`); null: not served. */
  healthAddr: HostPort | null;
  /** Prometheus text at `/metrics`; null: not served. May equal healthAddr (one HTTP server). */
  metricsAddr: HostPort | null;
  /** Reject writes (ingest, topic create/delete/retention) with READ_ONLY; keep serving reads. */
  readOnly: boolean;
  /** Largest ingest payload; larger frames are refused before their payload is read. */
  maxPayloadSize: number;
  segmentMaxBytes: number;
  /** Rotate the active segment once it is this old; null: size only. */
  segmentMaxAgeMs: number | null;
  indexIntervalBytes: number;
  retentionCheckIntervalMs: number;
  /** Fsync segments and advance the WAL checkpoint this often (the WAL behind it is recycled). */
  checkpointIntervalMs: number;
  wal: {
    dir: string | null;
    segmentSize: number;
    groupCommitWindowMs: number;
    maxBatchBytes: number;
  };
  /** Ingest bytes accepted but not yet durable, server-wide; above it ingests get Backpressure. */
  maxPendingIngestBytes: number;
  /** Requests a connection may have in flight before the server stops reading its socket. */
  maxInFlightPerConnection: number;
  /** How long `stop()` waits for in-flight requests before giving up. */
  drainTimeoutMs: number;
  /** Token auth (`[auth]`); disabled by default. */
  auth: AuthConfig;
  /** TLS on the client port (`[tls]`); disabled by default. */
  tls: TlsConfig;
  /** Per-client limits (`[limits]`). */
  limits: LimitsConfig;
  /** Replication (design D4). No peers: a single-node Raft group (standalone). */
  cluster: ClusterConfig;
}

export interface PeerConfig {
  id: number;
  host: string;
  /** Node-to-node port (1993 by default). */
  port: number;
}

export interface ClusterConfig {
  /** Every node of the cluster; may include this node (matched by id). Empty: standalone. */
  peers: PeerConfig[];
  /** Node-to-node listener. */
  replicationAddr: HostPort;
  /** L3: acknowledge after a majority has the write; L1: after the leader's own fsync. */
  mode: "l1" | "l3";
  /** `host:port` clients are redirected to for this node; default: listen address, or this node's peer host with the client port. */
  advertiseAddr: string | null;
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  proposalTimeoutMs: number;
  keepLogBytes: number;
}

export const DEFAULT_REPLICATION_PORT = 1993;

const DEFAULT_CLUSTER: ClusterConfig = {
  peers: [],
  replicationAddr: { host: "0.0.0.0", port: DEFAULT_REPLICATION_PORT },
  mode: "l3",
  advertiseAddr: null,
  tickMs: 10,
  electionTick: 15,
  heartbeatTick: 5,
  proposalTimeoutMs: 10_000,
  keepLogBytes: 64 * 1024 * 1024,
};

export type ServerConfigInput = Partial<Omit<ServerConfig, "wal" | "auth" | "tls" | "limits" | "cluster">> & {
  cluster?: Partial<ClusterConfig>;
  dataDir: string;
  wal?: Partial<ServerConfig["wal"]>;
  auth?: Partial<AuthConfig>;
  tls?: Partial<TlsConfig>;
  limits?: Partial<LimitsConfig>;
};

export const DEFAULT_CLIENT_PORT = 1992;

export function resolveConfig(input: ServerConfigInput): ServerConfig {
  const c: ServerConfig = {
    nodeId: input.nodeId ?? 0,
    dataDir: input.dataDir,
    listen: input.listen ?? { host: "0.0.0.0", port: DEFAULT_CLIENT_PORT },
    healthAddr: input.healthAddr ?? null,
    metricsAddr: input.metricsAddr ?? null,
    readOnly: input.readOnly ?? false,
    // Every stored batch must fit one fetch reply the upstream client accepts (16 MiB frame).
    maxPayloadSize: input.maxPayloadSize ?? MAX_FETCH_RESPONSE_DATA,
    segmentMaxBytes: input.segmentMaxBytes ?? 1024 * 1024 * 1024,
    segmentMaxAgeMs: input.segmentMaxAgeMs ?? null,
    indexIntervalBytes: input.indexIntervalBytes ?? 4096,
    retentionCheckIntervalMs: input.retentionCheckIntervalMs ?? 60_000,
    checkpointIntervalMs: input.checkpointIntervalMs ?? 1_000,
    wal: {
      dir: input.wal?.dir ?? null,
      segmentSize: input.wal?.segmentSize ?? 64 * 1024 * 1024,
      groupCommitWindowMs: input.wal?.groupCommitWindowMs ?? 0,
      maxBatchBytes: input.wal?.maxBatchBytes ?? 4 * 1024 * 1024,
    },
    maxPendingIngestBytes: input.maxPendingIngestBytes ?? 256 * 1024 * 1024,
    maxInFlightPerConnection: input.maxInFlightPerConnection ?? 1024,
    drainTimeoutMs: input.drainTimeoutMs ?? 25_000,
    auth: { ...DEFAULT_AUTH, ...definedOnly(input.auth ?? {}) },
    tls: { ...DEFAULT_TLS, ...definedOnly(input.tls ?? {}) },
    limits: { ...DEFAULT_LIMITS, ...definedOnly(input.limits ?? {}) },
    cluster: { ...DEFAULT_CLUSTER, ...definedOnly(input.cluster ?? {}) },
  };
  const bad = (why: string): never => {
    throw new LanceError("LNC_BAD_CONFIG", why);
  };
  if (!c.dataDir) bad("data_dir is required");
  if (!Number.isInteger(c.nodeId) || c.nodeId < 0 || c.nodeId > 0xffff) bad(`node_id must be 0..65535, got ${c.nodeId}`);
  if (c.maxPayloadSize < 1 || c.maxPayloadSize > MAX_FETCH_RESPONSE_DATA) {
    bad(`max_payload_size must be 1..${MAX_FETCH_RESPONSE_DATA} (a stored batch must fit one fetch reply), got ${c.maxPayloadSize}`);
  }
  if (c.segmentMaxBytes < 4096) bad(`segment_max_size must be at least 4096 bytes, got ${c.segmentMaxBytes}`);
  if (c.wal.segmentSize < c.maxPayloadSize + 4096) bad(`wal.size (${c.wal.segmentSize}) must exceed max_payload_size (${c.maxPayloadSize}) by at least 4 KiB`);
  for (const [name, a] of [["listen_addr", c.listen], ["health_addr", c.healthAddr], ["metrics_addr", c.metricsAddr]] as const) {
    if (a && (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535)) bad(`${name} port must be 0..65535, got ${a.port}`);
  }
  if (c.auth.enabled && c.auth.tokens.length === 0 && !c.auth.tokenFile) {
    throw new SecurityError("LNC_AUTH_NO_TOKENS", "[auth] enabled = true needs tokens or a token_file (refusing to start with nothing to check tokens against)");
  }
  checkCluster(c, bad);
  const tlsProblem = tlsConfigProblem(c.tls);
  if (tlsProblem) throw new SecurityError("LNC_TLS_CONFIG", tlsProblem);
  checkLimits(c.limits, c.maxPayloadSize + HEADER_SIZE);
  return c;
}

function checkCluster(c: ServerConfig, bad: (why: string) => never): void {
  const k = c.cluster;
  const ids = new Map<number, PeerConfig>();
  for (const p of k.peers) {
    if (!Number.isInteger(p.id) || p.id < 0 || p.id > 0xffff) bad(`peer id must be 0..65535, got ${p.id}`);
    const seen = ids.get(p.id);
    if (seen && (seen.host !== p.host || seen.port !== p.port)) bad(`peer id ${p.id} is listed twice with different addresses (${seen.host}:${seen.port}, ${p.host}:${p.port})`);
    ids.set(p.id, p);
  }
  if (k.peers.length > 0 && !ids.has(c.nodeId) && ids.size < 2) bad(`a cluster needs at least 2 other peers or this node (${c.nodeId}) in peers`);
  if (k.mode !== "l1" && k.mode !== "l3") bad(`replication_mode must be l1 or l3, got ${String(k.mode)}`);
  if (!(k.heartbeatTick >= 1 && k.electionTick > k.heartbeatTick)) bad("need 1 <= heartbeat ticks < election ticks");
  if (k.tickMs < 1) bad(`tick must be at least 1 ms, got ${k.tickMs}`);
}

/** Voter ids: every peer and this node. */
export function votersOf(c: ServerConfig): number[] {
  return [...new Set([c.nodeId, ...c.cluster.peers.map((p) => p.id)])].sort((a, b) => a - b);
}

/**
 * A peer list entry as upstream accepts it: `id@host:port`, or `host:port` whose first DNS
 * label ends in `-<n>` (`lance-2.lance:1993` is node 2), or `ip:port` (node id = position).
 */
export function parsePeer(text: string, position: number): PeerConfig {
  const at = text.indexOf("@");
  const idText = at >= 0 ? text.slice(0, at) : null;
  const addr = parseHostPort(at >= 0 ? text.slice(at + 1) : text.includes(":") ? text : `${text}:${DEFAULT_REPLICATION_PORT}`, `peer ${text}`);
  let id: number;
  if (idText !== null && /^\d+$/.test(idText)) id = Number(idText);
  else {
    const suffix = /-(\d+)$/.exec(addr.host.split(".")[0] ?? "");
    id = suffix ? Number(suffix[1]) : position;
  }
  return { id, host: addr.host, port: addr.port };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Parses `host:port` (`[v6]:port` too); `what` names the setting in the error. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new LanceError("LNC_BAD_CONFIG", `${what} must be host:port, got ${JSON.stringify(text)}`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}
