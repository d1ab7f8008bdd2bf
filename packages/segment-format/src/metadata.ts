import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";
import { LanceError } from "./errors.js";
import { METADATA_FILE } from "./naming.js";

/** `metadata.json` of a topic; field names and order follow upstream so its tools can read it. */
export interface TopicMetadata {
  id: number;
  name: string;
  /** Seconds since the epoch. */
  created_at: number;
  topic_epoch: number;
  auth: TopicAuth | null;
  retention: TopicRetention | null;
}

export interface TopicAuth {
  mtls_enabled: boolean;
  client_ca_path: string | null;
  allowed_cns: string[];
  allowed_topics: number[];
}

export interface TopicRetention {
  max_bytes: number | null;
  max_age_secs: number | null;
}

export function readTopicMetadata(topicDirPath: string): TopicMetadata {
  const path = join(topicDirPath, METADATA_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new LanceError("LNC_NOT_FOUND", `${path} does not exist: not a topic directory`);
    }
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LanceError("LNC_BAD_METADATA", `${path} is not valid JSON: ${(err as Error).message}`);
  }
  return validateMetadata(raw, path);
}

function validateMetadata(raw: unknown, path: string): TopicMetadata {
  const bad = (why: string): never => {
    throw new LanceError("LNC_BAD_METADATA", `${path}: ${why}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("expected a JSON object");
  const o = raw as Record<string, unknown>;
  if (!Number.isInteger(o.id) || (o.id as number) < 0) bad(`"id" must be a non-negative integer`);
  if (typeof o.name !== "string" || o.name.length === 0) bad(`"name" must be a non-empty string`);
  if (!Number.isInteger(o.created_at)) bad(`"created_at" must be an integer (seconds)`);
  const epoch = o.topic_epoch === undefined ? 1 : o.topic_epoch;
  if (!Number.isInteger(epoch)) bad(`"topic_epoch" must be an integer`);
  return {
    ...o,
    id: o.id as number,
    name: o.name as string,
    created_at: o.created_at as number,
    topic_epoch: epoch as number,
    auth: (o.auth ?? null) as TopicAuth | null,
    retention: (o.retention ?? null) as TopicRetention | null,
  };
}

/** Writes metadata.json atomically, pretty-printed with 2 spaces like upstream. */
export function writeTopicMetadata(topicDirPath: string, meta: TopicMetadata): void {
  writeFileAtomic(join(topicDirPath, METADATA_FILE), JSON.stringify(meta, null, 2));
}
