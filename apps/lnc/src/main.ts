#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  BENCH_DEFAULTS,
  DEFAULT_SERVER,
  EXIT_USAGE,
  listTopicsMode,
  processIO,
  runBench,
  runConsume,
  runCreateTopic,
  runDeleteTopic,
  runListTopicsRemote,
  runProduce,
  runSetRetention,
  runTopicInfo,
  runInspectIndex,
  runListTopicsOffline,
  runRebuildIndex,
  runRepairPath,
  runScanPath,
  runVerifyData,
  runExportTopic,
  runImportTopic,
  securityOf,
  type BenchOptions,
  type RemoteSecurity,
  runClusterStatus,
  runChaosCommand,
  CHAOS_DEFAULTS,
  parseU64,
} from "@lance/cli";

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** `--token` of every remote command; the environment keeps it out of `ps` and shell history. */
const tokenOption = () => new Option("--token <token>", "auth token sent on connect, for servers with [auth] enabled").env("LANCE_TOKEN");

/** The security flags every remote command takes. */
interface SecurityFlags {
  token?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

/** Adds --token, --tls, --ca, --cert, --key to a remote command. */
function securityFlags(cmd: Command): Command {
  return cmd
    .addOption(tokenOption())
    .option("--tls", "connect with TLS (servers with [tls] enabled); implied by --ca, --cert, --key")
    .option("--ca <pem>", "CA certificate(s) the server certificate must chain to (default: Node's bundled roots)")
    .option("--cert <pem>", "client certificate, for servers with require_client_cert (with --key)")
    .option("--key <pem>", "private key of --cert");
}

/** Turns the security flags into client options (reads the PEM files); the rest of `o` is kept. */
function remote<T extends SecurityFlags>(o: T): Omit<T, keyof SecurityFlags> & RemoteSecurity {
  const { token, tls, ca, cert, key, ...rest } = o;
  if ((cert === undefined) !== (key === undefined)) throw new InvalidArgumentError("--cert and --key go together");
  const pem = (path: string, flag: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new InvalidArgumentError(`${flag} ${path}: ${(err as Error).message}`);
    }
  };
  const useTls = tls === true || ca !== undefined || cert !== undefined;
  return {
    ...rest,
    ...(token !== undefined ? { token } : {}),
    ...(useTls
      ? { tls: { ...(ca !== undefined ? { ca: pem(ca, "--ca") } : {}), ...(cert !== undefined && key !== undefined ? { cert: pem(cert, "--cert"), key: pem(key, "--key") } : {}) } }
      : {}),
  };
}

/** Runs a command body; typed errors become one clear line on stderr and exit code 2. */
function action<T>(body: (opts: T) => number | Promise<number>): (opts: T) => Promise<void> {
  return async (opts) => {
    try {
      process.exitCode = await body(opts);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      processIO.err(`Error: ${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ""}`);
      process.exitCode = EXIT_USAGE;
    }
  };
}

const program = new Command()
  .name("lnc")
  .description("LANCE operator CLI: offline data tools (scan, verify, repair, indexes, topics) and remote commands (produce, consume, topics, bench)")
  .version("0.1.0")
  .showHelpAfterError()
  .addHelpText(
    "after",
    "\nExit codes: 0 ok, 1 a problem was found in the data (or a repair was refused), 2 the command could not run.",
  );

program
  .command("scan")
  .description("list the batches of a segment file (or the frames of a WAL file) with their CRC status, record count and offset range")
  .requiredOption("-p, --path <file>", "segment file (.lnc) or WAL file (.wal)")
  .option("-l, --limit <n>", "batches to list (0 = all)", nonNegativeInt, 20)
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; limit: number; json?: boolean }) => runScanPath(o, processIO)));

program
  .command("verify-data")
  .description("verify every segment (batch CRCs, offsets) and index of a topic; exit 1 on any error")
  .requiredOption("-p, --path <data_dir>", "data directory (holds segments/)")
  .requiredOption("-t, --topic <name>", "topic name (or numeric id)")
  .option("--fail-fast", "stop at the first error")
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; topic: string; failFast?: boolean; json?: boolean }) => runVerifyData(o, processIO)));

program
  .command("repair")
  .description("repair the WAL directory or a segment: cut a torn or corrupt tail, keeping a backup of what changes")
  .requiredOption("-p, --path <path>", "WAL directory ({data_dir}/wal) or segment file (.lnc)")
  .option("--dry-run", "show what would change without changing anything")
  .option("--skip-corrupt", "drop only damaged regions and keep the valid batches/entries after them (leaves a gap)")
  .option("--truncate-at-damage", "cut everything from the first damaged byte, valid batches after it included")
  .option("--json", "machine-readable output")
  .action(
    action((o: { path: string; dryRun?: boolean; skipCorrupt?: boolean; truncateAtDamage?: boolean; json?: boolean }) => runRepairPath(o, processIO)),
  );

program
  .command("rebuild-index")
  .description("rebuild every segment .idx and the topic catalog index.idx from the segment files")
  .requiredOption("-p, --path <topic_dir>", "topic directory ({data_dir}/segments/{topic})")
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; json?: boolean }) => runRebuildIndex(o, processIO)));

program
  .command("inspect-index")
  .description("show the entries, coverage and CRC status of a segment .idx or a topic index.idx")
  .requiredOption("-p, --path <file>", "a {segment}.idx or a topic's index.idx")
  .option("-l, --limit <n>", "entries to list (0 = all)", nonNegativeInt, 20)
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; limit: number; json?: boolean }) => runInspectIndex(o, processIO)));

securityFlags(program.command("list-topics"))
  .description("list the topics of a data directory (--path, offline) or of a running server (--server)")
  .option("-p, --path <data_dir>", "data directory (holds segments/): read the files, no server needed")
  .option("-s, --server <host:port>", "ask a running server")
  .option("--json", "JSON array of topics, each with a name field (the default with --server when stdout is not a terminal)")
  .action(
    action((o: SecurityFlags & { path?: string; server?: string; json?: boolean }) => {
      const mode = listTopicsMode(o, processIO);
      if (typeof mode === "number") return mode;
      if (mode === "offline") return runListTopicsOffline({ path: o.path!, ...(o.json ? { json: true } : {}) }, processIO);
      return runListTopicsRemote({ ...securityOf(remote(o)), server: o.server!, ...(o.json ? { json: true } : {}), stdoutIsTTY: Boolean(process.stdout.isTTY) }, processIO);
    }),
  );

program
  .command("export-topic")
  .description("export a topic (or a deposed leader's divergent suffix) as a checksummed .lance archive, up to the offset reached when the export starts")
  .requiredOption("-p, --path <data_dir>", "data directory (holds segments/)")
  .requiredOption("-t, --topic <name>", "topic name (or numeric id)")
  .requiredOption("-o, --output <file>", "archive to write (e.g. /backup/orders.lance); written to a temp file and renamed when complete")
  .option("--divergent", "export {data_dir}/divergent/{topic}/ (a deposed leader's unreplicated records, runbook 6.1)")
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; topic: string; output: string; divergent?: boolean; json?: boolean }) => runExportTopic(o, processIO)));

program
  .command("import-topic")
  .description("import a .lance archive as a topic: every checksum verified, offsets kept, the topic appears atomically (restart a running server to load it)")
  .requiredOption("-p, --path <data_dir>", "data directory (holds segments/)")
  .requiredOption("-n, --name <name>", "topic name to create")
  .requiredOption("-i, --input <file>", "archive written by lnc export-topic")
  .option("--force", "replace an existing topic of that name (its directory is moved to {data_dir}/replaced/, not deleted)")
  .option("--json", "machine-readable output")
  .action(
    action((o: { path: string; name: string; input: string; force?: boolean; json?: boolean }) => {
      const stop = new AbortController();
      process.once("SIGINT", () => stop.abort());
      process.once("SIGTERM", () => stop.abort());
      return runImportTopic({ ...o, signal: stop.signal }, processIO);
    }),
  );

const SERVER_FLAG = ["-s, --server <host:port>", "server client address", DEFAULT_SERVER] as const;


securityFlags(program.command("produce"))
  .description("send records to a topic: --data, --file (one record per line) or stdin lines; waits for every ack")
  .option(...SERVER_FLAG)
  .requiredOption("-t, --topic <name|id>", "topic name or id")
  .option("-d, --data <string>", "one record")
  .option("-f, --file <path>", "read records from a file, one per line")
  .option("--raw", "send the whole input as one unframed payload (like upstream `lnc ingest`); read it with consume --raw")
  .option("--linger-ms <n>", "batch linger", nonNegativeInt, 5)
  .option("--json", "machine-readable summary")
  .action(
    action((o: SecurityFlags & { server: string; topic: string; data?: string; file?: string; raw?: boolean; lingerMs: number; json?: boolean }) =>
      runProduce({ ...remote(o), stdin: process.stdin }, processIO),
    ),
  );

securityFlags(program.command("consume"))
  .description("print a topic's records, one per line; skipped offset ranges are reported on stderr")
  .option(...SERVER_FLAG)
  .requiredOption("-t, --topic <name|id>", "topic name or id")
  .option("-o, --offset <earliest|latest|N|@time>", "where to start: a record offset, or @ISO-8601 / @ns for the first record at or after that time", "earliest")
  .option("-m, --max-records <n>", "stop after this many records", nonNegativeInt)
  .option("-f, --follow", "keep waiting for new records (Ctrl-C to stop)")
  .option("--json", "one JSON object per line: {type:\"record\",offset,value} and {type:\"gap\",from,to,count}")
  .option("--raw", "records were produced unframed (produce --raw, bench): print each fetched chunk")
  .option("--consumer <name>", "commit the position under this name and resume from it next time")
  .option("--offsets-dir <dir>", "where --consumer offsets are kept (default ~/.lnc/offsets)")
  .action(
    action(
      (o: SecurityFlags & { server: string; topic: string; offset: string; maxRecords?: number; follow?: boolean; json?: boolean; raw?: boolean; consumer?: string; offsetsDir?: string }) => {
        const stop = new AbortController();
        process.once("SIGINT", () => stop.abort());
        process.once("SIGTERM", () => stop.abort());
        return runConsume({ ...remote(o), signal: stop.signal }, processIO);
      },
    ),
  );

securityFlags(program.command("create-topic"))
  .description("create a topic (an existing one of that name is reported and left unchanged)")
  .option(...SERVER_FLAG)
  .requiredOption("-n, --name <name>", "topic name: letters, digits, dashes")
  .option("--max-age-secs <s>", "retention by age (0 = unlimited)")
  .option("--max-bytes <b>", "retention by size (0 = unlimited)")
  .option("--json", "machine-readable output")
  .action(action((o: SecurityFlags & { server: string; name: string; maxAgeSecs?: string; maxBytes?: string; json?: boolean }) => runCreateTopic(remote(o), processIO)));

securityFlags(program.command("delete-topic"))
  .description("delete a topic and its data")
  .option(...SERVER_FLAG)
  .requiredOption("-t, --topic <name|id>", "topic name or id")
  .action(action((o: SecurityFlags & { server: string; topic: string }) => runDeleteTopic(remote(o), processIO)));

securityFlags(program.command("topic-info"))
  .description("show a topic's id, creation time, epoch and next offset")
  .option(...SERVER_FLAG)
  .requiredOption("-t, --topic <name|id>", "topic name or id")
  .option("--json", "machine-readable output")
  .action(action((o: SecurityFlags & { server: string; topic: string; json?: boolean }) => runTopicInfo(remote(o), processIO)));

securityFlags(program.command("cluster-status"))
  .description("the node's view of the cluster: id, role, term, leader, peers, quorum (exit 1 without a leader or quorum, or when a node is unreachable)")
  .option(...SERVER_FLAG)
  .option("--json", "machine-readable output")
  .action(action((o: SecurityFlags & { server: string; json?: boolean }) => runClusterStatus(remote(o), processIO)));

securityFlags(program.command("set-retention"))
  .description("set a topic's retention limits (0 = unlimited)")
  .option(...SERVER_FLAG)
  .requiredOption("-t, --topic <name|id>", "topic name or id")
  .requiredOption("--max-age-secs <s>", "maximum age in seconds")
  .requiredOption("--max-bytes <b>", "maximum size in bytes")
  .option("--json", "machine-readable output")
  .action(action((o: SecurityFlags & { server: string; topic: string; maxAgeSecs: string; maxBytes: string; json?: boolean }) => runSetRetention(remote(o), processIO)));

const d = BENCH_DEFAULTS;
securityFlags(program.command("bench"))
  .description("producer benchmark like upstream lnc-bench: msg/s, MB/s, ack latency percentiles, errors (exit 1 on errors)")
  .requiredOption("-e, --endpoint <host:port>", "server client address")
  .option("-t, --topic-name <name>", "topic (created if missing)", d.topicName)
  .option("-c, --connections <n>", "connections (one producer each)", nonNegativeInt, d.connections)
  .option("-p, --pipeline <n>", "messages in flight per connection", nonNegativeInt, d.pipeline)
  .option("-s, --msg-size <bytes>", "message size", nonNegativeInt, d.msgSize)
  .option("-d, --duration <s>", "measured seconds", nonNegativeInt, d.duration)
  .option("-w, --warmup <s>", "seconds before measuring", nonNegativeInt, d.warmup)
  .option("-b, --batch-size <bytes>", "producer batch size", nonNegativeInt, d.batchBytes)
  .option("-l, --linger-ms <ms>", "producer linger (0 = send when an ingest slot is free)", nonNegativeInt, d.lingerMs)
  .option("--max-in-flight <n>", "ingest frames in flight per connection", nonNegativeInt, d.maxInFlight)
  .option("--report-interval <s>", "seconds between progress lines (0 = none)", nonNegativeInt, d.reportInterval)
  .option("--max-errors <n>", "errors tolerated before exit 1", nonNegativeInt, d.maxErrors)
  .option("--json", "machine-readable report")
  .action(
    action(
      // The flag is --batch-size (upstream's name); the option field is batchBytes.
      (o: SecurityFlags & Omit<BenchOptions, "batchBytes" | keyof RemoteSecurity> & { batchSize: number }) =>
        runBench({ ...remote(o), batchBytes: o.batchSize }, processIO),
    ),
  );

const cd = CHAOS_DEFAULTS;
securityFlags(program.command("chaos"))
  .description("integrity check like upstream lnc-chaos: a sequenced producer and a verifying consumer across node restarts; exit 1 on lost, duplicated or reordered acked records")
  .option("-s, --server <host:port,...>", "server address(es); the clients move to the next one when theirs fails", DEFAULT_SERVER)
  .requiredOption("-t, --topic <name>", "topic name (or id)")
  .option("--create", "create the topic if it does not exist")
  .option("--rate <n>", "records per second", nonNegativeInt, cd.rate)
  .option("--duration <s>", "seconds of producing (0 = until Ctrl-C)", nonNegativeInt, cd.duration)
  .option("--size <bytes>", "bytes per record (header included, at least 40)", nonNegativeInt, cd.size)
  .option("--from-offset <n>", "where the consumer starts (default: the earliest offset)")
  .option("--drain-timeout <s>", "seconds for the consumer to catch up after producing stops", nonNegativeInt, cd.drainTimeout)
  .option("--max-in-flight <n>", "ingests in flight (above 1 a retry can reorder)", nonNegativeInt, cd.maxInFlight)
  .option("--max-pending <n>", "unsettled sends before the producer pauses", nonNegativeInt, cd.maxPending)
  .option("--request-timeout <ms>", "per-attempt request timeout", nonNegativeInt, cd.requestTimeoutMs)
  .option("--max-attempts <n>", "attempts per send or fetch before giving up on it", nonNegativeInt, cd.maxAttempts)
  .option("--progress", "a progress line every second on stderr (default: only on a terminal)")
  .option("--json", "the report as one JSON object")
  .action(
    action((o: SecurityFlags & { server: string; topic: string; create?: boolean; rate: number; duration: number; size: number; fromOffset?: string; drainTimeout: number; maxInFlight: number; maxPending: number; requestTimeout: number; maxAttempts: number; progress?: boolean; json?: boolean }) => {
      const { server, fromOffset, requestTimeout, ...rest } = remote(o);
      const servers = server.split(",").map((a) => a.trim()).filter((a) => a !== "");
      return runChaosCommand({ ...rest, servers, requestTimeoutMs: requestTimeout, ...(fromOffset !== undefined ? { fromOffset: parseU64("--from-offset", fromOffset) } : {}) }, processIO);
    }),
  );

// `lnc consume | head` closes stdout early: that is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

await program.parseAsync(process.argv);
