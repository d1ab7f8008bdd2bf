import type { TopicInfo } from "@lance/client";
import { table, toJson } from "../format.js";
import { EXIT_OK, EXIT_USAGE, type CommandIO } from "../io.js";
import { jsonInteger, parseU64, withClient, type RemoteOptions } from "./session.js";

function topicJson(t: TopicInfo): Record<string, unknown> {
  return { id: t.id, name: t.name, created_at: t.createdAt, topic_epoch: t.topicEpoch };
}

function createdAt(unixSecs: number): string {
  return new Date(unixSecs * 1000).toISOString().replace(".000Z", "Z");
}

export interface ListTopicsRemoteOptions extends RemoteOptions {
  json?: boolean;
  /** Whether stdout is a terminal: a table there, JSON otherwise (so `| jq` works without --json). */
  stdoutIsTTY?: boolean;
}

/** `lnc list-topics --server`: a JSON array of `{id, name, created_at, topic_epoch}` for scripts. */
export async function runListTopicsRemote(opts: ListTopicsRemoteOptions, io: CommandIO): Promise<number> {
  const topics = await withClient(opts, (_c, admin) => admin.listTopics());
  if (opts.json || !opts.stdoutIsTTY) {
    io.out(toJson(topics.map(topicJson)));
    return EXIT_OK;
  }
  if (topics.length === 0) {
    io.out("No topics.");
    return EXIT_OK;
  }
  io.out(table([["NAME", "ID", "CREATED", "EPOCH"], ...topics.map((t) => [t.name, String(t.id), createdAt(t.createdAt), String(t.topicEpoch)])]));
  return EXIT_OK;
}

export interface TopicInfoOptions extends RemoteOptions {
  topic: string;
  json?: boolean;
}

/** `lnc topic-info`: the topic's metadata and its end offset (one past the last record). */
export async function runTopicInfo(opts: TopicInfoOptions, io: CommandIO): Promise<number> {
  const { topic, end } = await withClient(opts, async (_c, admin) => {
    const found = await admin.resolveTopic(opts.topic);
    const topic = await admin.getTopic(found.id);
    return { topic, end: await admin.endOffset(found.id) };
  });
  if (opts.json) {
    io.out(toJson({ ...topicJson(topic), next_offset: jsonInteger(end) }));
    return EXIT_OK;
  }
  io.out(
    table([
      ["Name:", topic.name],
      ["Id:", String(topic.id)],
      ["Created:", createdAt(topic.createdAt)],
      ["Epoch:", String(topic.topicEpoch)],
      ["Next offset:", end.toString()],
    ]),
  );
  return EXIT_OK;
}

export interface CreateTopicOptions extends RemoteOptions {
  name: string;
  /** Retention in seconds; 0 or absent = no age limit. */
  maxAgeSecs?: string;
  /** Retention in bytes; 0 or absent = no size limit. */
  maxBytes?: string;
  json?: boolean;
}

/**
 * `lnc create-topic`: creates the topic, with retention when either limit is given (the other
 * is then 0 = unlimited). An existing topic of that name is reported and left as it is (exit 0),
 * as upstream's ensure does; its retention is not changed (use set-retention).
 */
export async function runCreateTopic(opts: CreateTopicOptions, io: CommandIO): Promise<number> {
  const retention =
    opts.maxAgeSecs !== undefined || opts.maxBytes !== undefined
      ? { maxAgeSecs: parseU64("--max-age-secs", opts.maxAgeSecs ?? "0"), maxBytes: parseU64("--max-bytes", opts.maxBytes ?? "0") }
      : undefined;
  const result = await withClient(opts, async (_c, admin) => {
    const existing = (await admin.listTopics()).find((t) => t.name === opts.name);
    if (existing) return { topic: existing as TopicInfo, created: false };
    return { topic: (await admin.ensureTopic(opts.name, retention)) as TopicInfo, created: true };
  });
  if (opts.json) {
    io.out(toJson({ ...topicJson(result.topic), created: result.created }));
    return EXIT_OK;
  }
  if (result.created) io.out(`Created topic ${result.topic.name} (id ${result.topic.id})`);
  else io.out(`Topic ${result.topic.name} already exists (id ${result.topic.id})${retention ? "; its retention was not changed (use set-retention)" : ""}`);
  return EXIT_OK;
}

export interface DeleteTopicOptions extends RemoteOptions {
  topic: string;
}

export async function runDeleteTopic(opts: DeleteTopicOptions, io: CommandIO): Promise<number> {
  const topic = await withClient(opts, async (_c, admin) => {
    const t = await admin.resolveTopic(opts.topic);
    await admin.deleteTopic(t.id);
    return t;
  });
  io.out(`Deleted topic ${topic.name} (id ${topic.id})`);
  return EXIT_OK;
}

export interface SetRetentionOptions extends RemoteOptions {
  topic: string;
  maxAgeSecs: string;
  maxBytes: string;
  json?: boolean;
}

/** `lnc set-retention`: both limits are required; 0 = unlimited. */
export async function runSetRetention(opts: SetRetentionOptions, io: CommandIO): Promise<number> {
  const maxAgeSecs = parseU64("--max-age-secs", opts.maxAgeSecs);
  const maxBytes = parseU64("--max-bytes", opts.maxBytes);
  const { topic, retention } = await withClient(opts, async (_c, admin) => {
    const topic = await admin.resolveTopic(opts.topic);
    return { topic, retention: await admin.setRetention(topic.id, { maxAgeSecs, maxBytes }) };
  });
  if (opts.json) {
    io.out(toJson({ topic_id: topic.id, name: topic.name, max_age_secs: jsonInteger(retention.maxAgeSecs), max_bytes: jsonInteger(retention.maxBytes) }));
    return EXIT_OK;
  }
  const age = retention.maxAgeSecs === 0n ? "unlimited" : `${retention.maxAgeSecs} s`;
  const bytes = retention.maxBytes === 0n ? "unlimited" : `${retention.maxBytes} bytes`;
  io.out(`Retention of ${topic.name} (id ${topic.id}): max age ${age}, max size ${bytes}`);
  return EXIT_OK;
}

/** `list-topics` takes exactly one of `--path` (offline) and `--server` (remote). */
export function listTopicsMode(opts: { path?: string; server?: string }, io: CommandIO): "offline" | "remote" | number {
  if (opts.path !== undefined && opts.server !== undefined) {
    io.err("Error: list-topics takes either --path <data_dir> (offline) or --server <host:port> (remote), not both");
    return EXIT_USAGE;
  }
  if (opts.path === undefined && opts.server === undefined) {
    io.err("Error: list-topics needs --path <data_dir> (offline, reads the files) or --server <host:port> (asks a running server)");
    return EXIT_USAGE;
  }
  return opts.path !== undefined ? "offline" : "remote";
}
