#!/usr/bin/env node
import { Command, InvalidArgumentError } from "commander";
import pino from "pino";
import { createServer, parseHostPort, parsePeer, type Logger, type ServerConfigInput } from "@lance/server";
import { readConfigFile, type ConfigLayer } from "./config-file.js";

interface Flags {
  config?: string;
  standalone?: boolean;
  dataDir?: string;
  nodeId?: number;
  listen?: string;
  health?: string;
  metrics?: string;
  logLevel?: string;
  readOnly?: boolean;
  peers?: string[];
  replicationAddr?: string;
  replicationMode?: string;
  advertise?: string;
}

const program = new Command()
  .name("lance")
  .description("LANCE stream server: standalone, or a Raft cluster with --peers / cluster.peers. Settings: defaults < --config file < LANCE_* environment < flags.")
  .version("0.1.0")
  .option("-c, --config <path>", "lance.toml (or .json) with upstream's keys plus read_only (env LANCE_CONFIG)")
  .option("--standalone", "run as a single node, ignoring any peers in the config file (runbook 6.2)")
  .option("-d, --data-dir <dir>", "data directory (env LANCE_DATA_DIR; default ./data)")
  .option("-n, --node-id <id>", "node id 0..65535 (env LANCE_NODE_ID)", (v) => int(v, "--node-id"))
  .option("-l, --listen <host:port>", "client (LWP) listener, default 0.0.0.0:1992")
  .option("--health <host:port|off>", "health HTTP listener (/health/live, /health/ready), default 0.0.0.0:8080")
  .option("-m, --metrics <host:port|off>", "Prometheus /metrics listener, default 0.0.0.0:9090")
  .option("--log-level <level>", "trace, debug, info, warn, error (env LANCE_LOG; default info)")
  .option("--read-only", "reject writes, serve reads")
  .option("--peers <list>", "cluster nodes as id@host:port (comma-separated, repeatable; may include this node)", (v: string, prev: string[] = []) => [...prev, ...v.split(",")])
  .option("--replication-addr <host:port>", "node-to-node listener, default 0.0.0.0:1993")
  .option("--replication-mode <l1|l3>", "l3: ack after a majority has the write (default); l1: after the leader's own fsync")
  .option("--advertise <host:port>", "client address other nodes redirect clients to (default: listen address, or this node's peer host)")
  .addHelpText(
    "after",
    "\nSIGTERM/SIGINT drain and exit 0; a second signal, or a drain longer than 25 s, exits 1.\nSIGHUP re-reads [auth] tokens, named_tokens, token_file and acl, and the [tls] certificate, key and CA, without dropping connections.",
  )
  .parse();

function int(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative integer`);
  return n;
}

function addr(v: string | undefined, what: string) {
  if (v === undefined) return undefined;
  return v === "off" ? null : parseHostPort(v, what);
}

function envLayer(): ConfigLayer {
  const e = process.env;
  return {
    ...(e.LANCE_DATA_DIR ? { dataDir: e.LANCE_DATA_DIR } : {}),
    ...(e.LANCE_NODE_ID ? { nodeId: int(e.LANCE_NODE_ID, "LANCE_NODE_ID") } : {}),
    ...(e.LANCE_LOG ? { logLevel: e.LANCE_LOG } : {}),
  };
}

function flagLayer(f: Flags): ConfigLayer {
  const layer: ConfigLayer = {};
  if (f.dataDir !== undefined) layer.dataDir = f.dataDir;
  if (f.nodeId !== undefined) layer.nodeId = f.nodeId;
  if (f.listen !== undefined) layer.listen = parseHostPort(f.listen, "--listen");
  const health = addr(f.health, "--health");
  if (health !== undefined) layer.healthAddr = health;
  const metrics = addr(f.metrics, "--metrics");
  if (metrics !== undefined) layer.metricsAddr = metrics;
  if (f.logLevel !== undefined) layer.logLevel = f.logLevel;
  if (f.readOnly) layer.readOnly = true;
  const peers = (f.peers ?? []).map((t) => t.trim()).filter((t) => t !== "");
  const mode = f.replicationMode?.toLowerCase();
  if (mode !== undefined && mode !== "l1" && mode !== "l3") throw new InvalidArgumentError(`--replication-mode must be l1 or l3, got ${f.replicationMode}`);
  const cluster: NonNullable<ConfigLayer["cluster"]> = {
    ...(peers.length > 0 ? { peers: peers.map((t, i) => parsePeer(t, i)) } : {}),
    ...(f.replicationAddr !== undefined ? { replicationAddr: parseHostPort(f.replicationAddr, "--replication-addr") } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(f.advertise !== undefined ? { advertiseAddr: f.advertise } : {}),
  };
  // `--standalone` (runbook 6.2): one node, whatever peers the config file lists.
  if (f.standalone) cluster.peers = [];
  if (Object.keys(cluster).length > 0) layer.cluster = cluster;
  return layer;
}

async function main(): Promise<number> {
  const flags = program.opts<Flags>();
  const configPath = flags.config ?? process.env.LANCE_CONFIG;
  const file = configPath ? readConfigFile(configPath) : { layer: {}, warnings: [] };
  const flagged = flagLayer(flags);
  const merged: ConfigLayer = {
    dataDir: "./data",
    healthAddr: { host: "0.0.0.0", port: 8080 },
    metricsAddr: { host: "0.0.0.0", port: 9090 },
    ...file.layer,
    ...envLayer(),
    ...flagged,
    cluster: { ...file.layer.cluster, ...flagged.cluster },
  };
  const log = pino({ level: merged.logLevel ?? "info", base: { target: "lance", node_id: merged.nodeId ?? 0 } }) as unknown as Logger;
  for (const w of file.warnings) log.warn({ config: configPath }, w);
  const { logLevel: _ignored, ...serverInput } = merged;
  const server = createServer({ ...(serverInput as ServerConfigInput), logger: log });

  let signals = 0;
  const finished = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal: sig }, "second signal: exiting without finishing the drain");
        resolve(1);
        return;
      }
      log.info({ signal: sig }, "draining: no new connections, finishing in-flight requests");
      server.stop().then(
        ({ drained }) => resolve(drained ? 0 : 1),
        (err: Error) => {
          log.error({ err: err.message }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  process.on("SIGHUP", () => {
    server.reload().then(
      (report) => log.info({ signal: "SIGHUP", ...report }, "reload complete"),
      (err: Error & { code?: string }) => log.error({ signal: "SIGHUP", code: err.code }, `reload failed, previous settings stay in force: ${err.message}`),
    );
  });
  try {
    await server.start();
  } catch (err) {
    const e = err as Error & { code?: string };
    log.error({ code: e.code }, e.message);
    process.stderr.write(`lance: ${e.message}\n`);
    await server.stop().catch(() => undefined);
    return 2;
  }
  return finished;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`lance: ${err.message}\n`);
    process.exit(2);
  },
);
