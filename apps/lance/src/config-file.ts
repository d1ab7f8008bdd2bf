import { readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { aclProblem, parseHostPort, parsePeer, type AclRule, type AuthConfig, type ServerConfigInput } from "@lance/server";

/** What a config file (or the environment, or flags) says; later layers override earlier ones. */
export type ConfigLayer = Partial<ServerConfigInput> & { logLevel?: string };

export interface FileConfig {
  layer: ConfigLayer;
  /** Things the operator should know: unknown keys, a `read_only` found inside a table. */
  warnings: string[];
}

const KNOWN_ROOT = new Set([
  "node_id", "listen_addr", "replication_addr", "metrics_addr", "health_addr", "data_dir", "replication_mode", "peers",
  "wal", "ingestion", "io", "monitoring", "retention_cleanup_interval_secs", "auth", "tls", "limits", "read_only", "log_level", "cluster",
  "replication_quorum_timeout_ms", "replication", "advertise_addr", "consumer_rate_limit_bytes_per_sec", "data_replication_channel_capacity", "replication_max_inflight",
]);

class ConfigError extends Error {
  readonly code = "LNC_BAD_CONFIG";
}

/** Reads lance.toml (or .json) with upstream's keys (cluster.md §6.2) plus `read_only`. */
export function readConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = extname(path) === ".json" ? (JSON.parse(text) as Record<string, unknown>) : (parseToml(text) as Record<string, unknown>);
  } catch (err) {
    throw new ConfigError(`${path} is not valid ${extname(path) === ".json" ? "JSON" : "TOML"}: ${(err as Error).message}`);
  }
  return interpret(raw, path);
}

export function interpret(raw: Record<string, unknown>, path: string): FileConfig {
  const warnings: string[] = [];
  const layer: ConfigLayer = {};
  const str = (v: unknown, key: string): string => {
    if (typeof v !== "string") throw new ConfigError(`${path}: ${key} must be a string`);
    return v;
  };
  const int = (v: unknown, key: string): number => {
    if (typeof v === "bigint") v = Number(v);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(`${path}: ${key} must be a non-negative integer`);
    return v;
  };
  const bool = (v: unknown, key: string): boolean => {
    if (typeof v !== "boolean") throw new ConfigError(`${path}: ${key} must be true or false`);
    return v;
  };
  const table = (key: string): Record<string, unknown> => {
    const v = raw[key];
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(`${path}: [${key}] must be a table`);
    return v as Record<string, unknown>;
  };

  for (const k of Object.keys(raw)) if (!KNOWN_ROOT.has(k)) warnings.push(`${path}: unknown key ${k} (ignored)`);
  if (raw.node_id !== undefined) layer.nodeId = int(raw.node_id, "node_id");
  if (raw.data_dir !== undefined) layer.dataDir = str(raw.data_dir, "data_dir");
  if (raw.listen_addr !== undefined) layer.listen = parseHostPort(str(raw.listen_addr, "listen_addr"), "listen_addr");
  if (raw.health_addr !== undefined) layer.healthAddr = parseHostPort(str(raw.health_addr, "health_addr"), "health_addr");
  if (raw.metrics_addr !== undefined) layer.metricsAddr = parseHostPort(str(raw.metrics_addr, "metrics_addr"), "metrics_addr");
  if (raw.log_level !== undefined) layer.logLevel = str(raw.log_level, "log_level");
  if (raw.retention_cleanup_interval_secs !== undefined) layer.retentionCheckIntervalMs = int(raw.retention_cleanup_interval_secs, "retention_cleanup_interval_secs") * 1000;

  const cluster = table("cluster");
  const replication = table("replication");
  const modeRaw = raw.replication_mode ?? cluster.replication_mode ?? replication.mode;
  const mode = modeRaw === undefined ? null : str(modeRaw, "replication_mode").toLowerCase();
  if (mode !== null && !["l1", "l3", "standalone"].includes(mode)) throw new ConfigError(`${path}: replication_mode must be l1, l3 or standalone, got ${mode}`);
  const peerTexts = [...asList(raw.peers), ...asList(cluster.peers), ...asList(replication.peers)].flatMap((p, i) => str(p, `peers[${i}]`).split(","));
  const peers = peerTexts.map((t) => t.trim()).filter((t) => t !== "").map((t, i) => parsePeer(t, i));
  if (mode === "standalone" && peers.length > 0) warnings.push(`${path}: replication_mode = "standalone": the ${peers.length} configured peers are ignored`);
  const replicationAddr = raw.replication_addr ?? cluster.replication_addr ?? replication.listen_addr;
  const advertise = raw.advertise_addr ?? cluster.advertise_addr;
  if (peers.length > 0 || mode !== null || replicationAddr !== undefined || advertise !== undefined) {
    layer.cluster = {
      peers: mode === "standalone" ? [] : peers,
      ...(mode === "l1" || mode === "l3" ? { mode } : {}),
      ...(replicationAddr !== undefined ? { replicationAddr: parseHostPort(str(replicationAddr, "replication_addr"), "replication_addr") } : {}),
      ...(advertise !== undefined ? { advertiseAddr: str(advertise, "advertise_addr") } : {}),
    };
  }

  const wal = table("wal");
  if (wal.enabled === false) warnings.push(`${path}: [wal] enabled = false is ignored: every write goes through the WAL`);
  if (wal.size !== undefined || wal.path !== undefined) {
    layer.wal = {
      ...(wal.size !== undefined ? { segmentSize: int(wal.size, "wal.size") } : {}),
      ...(wal.path !== undefined ? { dir: str(wal.path, "wal.path") } : {}),
    };
  }
  const ingestion = table("ingestion");
  if (ingestion.max_payload_size !== undefined) layer.maxPayloadSize = int(ingestion.max_payload_size, "ingestion.max_payload_size");
  const io = table("io");
  if (io.segment_max_size !== undefined) layer.segmentMaxBytes = int(io.segment_max_size, "io.segment_max_size");
  if (io.sparse_index_interval !== undefined) layer.indexIntervalBytes = int(io.sparse_index_interval, "io.sparse_index_interval");

  const auth = table("auth");
  if (Object.keys(auth).length > 0) {
    const tokens: NonNullable<AuthConfig["tokens"]> = auth.tokens === undefined ? [] : asList(auth.tokens).map((t, i) => str(t, `auth.tokens[${i}]`));
    // [auth.named_tokens] ingest-svc = "secret": tokens an ACL can name (principal = "token:ingest-svc").
    if (auth.named_tokens !== undefined) {
      const named = auth.named_tokens;
      if (typeof named !== "object" || named === null || Array.isArray(named)) throw new ConfigError(`${path}: [auth.named_tokens] must be a table of name = "token"`);
      for (const [name, token] of Object.entries(named)) tokens.push({ name, token: str(token, `auth.named_tokens.${name}`) });
    }
    // [[auth.acl]] principal = "token:<name>" | "cn:<CN>" | "*", topics = [...], allow = ["read", "write", "admin"]
    const acl: AclRule[] = asList(auth.acl).map((r, i) => {
      if (typeof r !== "object" || r === null || Array.isArray(r)) throw new ConfigError(`${path}: auth.acl[${i}] must be a table ([[auth.acl]])`);
      const rule = r as Record<string, unknown>;
      const strings = (key: string) => asList(rule[key]).map((v, j) => str(v, `auth.acl[${i}].${key}[${j}]`));
      return { principal: str(rule.principal, `auth.acl[${i}].principal`), topics: strings("topics"), allow: strings("allow") as AclRule["allow"] };
    });
    const problem = aclProblem(acl);
    if (problem) throw new ConfigError(`${path}: ${problem}`);
    layer.auth = {
      ...(auth.enabled !== undefined ? { enabled: bool(auth.enabled, "auth.enabled") } : {}),
      ...(auth.write_only !== undefined ? { writeOnly: bool(auth.write_only, "auth.write_only") } : {}),
      ...(auth.token_file !== undefined ? { tokenFile: relativeTo(path, str(auth.token_file, "auth.token_file")) } : {}),
      tokens,
      ...(acl.length > 0 ? { acl } : {}),
      // SIGHUP: tokens, named_tokens, token_file and acl are re-read from this file.
      reread: () => {
        const again = readConfigFile(path).layer.auth ?? {};
        return { tokens: again.tokens ?? [], tokenFile: again.tokenFile ?? null, acl: again.acl ?? [] };
      },
    };
  }

  const tls = table("tls");
  if (Object.keys(tls).length > 0) {
    const file = (key: string) => relativeTo(path, str(tls[key], `tls.${key}`));
    layer.tls = {
      ...(tls.enabled !== undefined ? { enabled: bool(tls.enabled, "tls.enabled") } : {}),
      ...(tls.require_client_cert !== undefined ? { requireClientCert: bool(tls.require_client_cert, "tls.require_client_cert") } : {}),
      ...(tls.cert_path !== undefined ? { certPath: file("cert_path") } : {}),
      ...(tls.key_path !== undefined ? { keyPath: file("key_path") } : {}),
      ...(tls.ca_path !== undefined ? { caPath: file("ca_path") } : {}),
    };
  }

  const limits = table("limits");
  const limit = (key: string) => int(limits[key], `limits.${key}`);
  if (limits.max_in_flight_requests_per_connection !== undefined) layer.maxInFlightPerConnection = limit("max_in_flight_requests_per_connection");
  const limitKeys = [
    "max_connections", "max_connections_per_address", "first_frame_timeout_ms", "idle_timeout_secs", "max_in_flight_bytes_per_connection", "max_send_buffer_bytes", "send_stall_timeout_ms",
  ];
  if (limitKeys.some((k) => limits[k] !== undefined)) {
    layer.limits = {
      ...(limits.max_connections !== undefined ? { maxConnections: limit("max_connections") } : {}),
      ...(limits.max_connections_per_address !== undefined ? { maxConnectionsPerAddress: limit("max_connections_per_address") } : {}),
      ...(limits.first_frame_timeout_ms !== undefined ? { firstFrameTimeoutMs: limit("first_frame_timeout_ms") } : {}),
      ...(limits.idle_timeout_secs !== undefined ? { idleTimeoutMs: limit("idle_timeout_secs") * 1000 } : {}),
      ...(limits.max_in_flight_bytes_per_connection !== undefined ? { maxInFlightBytesPerConnection: limit("max_in_flight_bytes_per_connection") } : {}),
      ...(limits.max_send_buffer_bytes !== undefined ? { maxSendBufferBytes: limit("max_send_buffer_bytes") } : {}),
      ...(limits.send_stall_timeout_ms !== undefined ? { sendStallTimeoutMs: limit("send_stall_timeout_ms") } : {}),
    };
  }

  // The runbook appends `read_only = true` to the end of the file, which TOML places inside
  // whatever table comes last. Honour it wherever it landed, and say where it was found.
  const readOnly = findReadOnly(raw);
  if (readOnly) {
    layer.readOnly = bool(readOnly.value, `${readOnly.where}read_only`);
    if (readOnly.where) warnings.push(`${path}: read_only found inside [${readOnly.where.slice(0, -1)}] (appended after that table); applied to the whole server`);
  }
  return { layer, warnings };
}

function findReadOnly(raw: Record<string, unknown>): { value: unknown; where: string } | null {
  if (raw.read_only !== undefined) return { value: raw.read_only, where: "" };
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === "object" && v !== null && !Array.isArray(v) && "read_only" in v) return { value: (v as Record<string, unknown>).read_only, where: `${k}.` };
  }
  return null;
}

/** A path in the config file is relative to the file's directory. */
function relativeTo(configPath: string, p: string): string {
  return resolve(dirname(configPath), p);
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}

export { ConfigError };
