import { ProtocolError } from "./errors.js";
import { asObject, jsonObject, parseJsonBody, readNumber, readString, readU64 } from "./json-body.js";
import { checkU32, checkU64 } from "./wire-values.js";

/**
 * The JSON bodies of TopicResponse (0x80). Key order follows upstream (serde_json::json! sorts
 * keys; ListTopics entries keep struct order); readers look keys up by name.
 */
export interface TopicInfo {
  id: number;
  name: string;
  /** Unix seconds. */
  createdAt: number;
  topicEpoch: number;
}

export interface Retention {
  /** 0 = no age limit on our server. */
  maxAgeSecs: bigint;
  /** 0 = no size limit on our server. */
  maxBytes: bigint;
}

export type TopicResponseBody =
  /** CreateTopic, GetTopic; CreateTopicWithRetention adds `retention`. */
  | { kind: "topic"; topic: TopicInfo; retention?: Retention }
  | { kind: "topics"; topics: TopicInfo[] }
  | { kind: "deleted"; topicId: number }
  /** SetRetention. */
  | { kind: "retention"; topicId: number; retention: Retention };

export function formatTopicResponse(body: TopicResponseBody): string {
  switch (body.kind) {
    case "topic": {
      const t = body.topic;
      const r = body.retention;
      return jsonObject([
        ["created_at", checkU64("createdAt", BigInt(t.createdAt))],
        ["id", checkU32("id", t.id)],
        ...(r
          ? ([
              ["max_age_secs", checkU64("maxAgeSecs", r.maxAgeSecs)],
              ["max_bytes", checkU64("maxBytes", r.maxBytes)],
            ] as const)
          : []),
        ["name", t.name],
        ["topic_epoch", t.topicEpoch],
      ]);
    }
    case "topics":
      return `{"topics":[${body.topics
        .map((t) =>
          jsonObject([
            ["id", checkU32("id", t.id)],
            ["name", t.name],
            ["created_at", t.createdAt],
            ["topic_epoch", t.topicEpoch],
          ]),
        )
        .join(",")}]}`;
    case "deleted":
      return jsonObject([["deleted", checkU32("topicId", body.topicId)]]);
    case "retention":
      return jsonObject([
        ["max_age_secs", checkU64("maxAgeSecs", body.retention.maxAgeSecs)],
        ["max_bytes", checkU64("maxBytes", body.retention.maxBytes)],
        ["topic_id", checkU32("topicId", body.topicId)],
      ]);
  }
}

const WHAT = "topic response";

/** Reads any TopicResponse body, telling the four shapes apart by their keys. */
export function parseTopicResponse(json: string): TopicResponseBody {
  const obj = asObject(parseJsonBody(json, WHAT), WHAT);
  if (Array.isArray(obj["topics"])) {
    return { kind: "topics", topics: obj["topics"].map((t) => readTopic(asObject(t, WHAT))) };
  }
  if ("deleted" in obj) return { kind: "deleted", topicId: readNumber(obj, "deleted", WHAT) };
  if ("topic_id" in obj) return { kind: "retention", topicId: readNumber(obj, "topic_id", WHAT), retention: readRetention(obj) };
  if ("id" in obj && "name" in obj) {
    const topic = readTopic(obj);
    return "max_age_secs" in obj || "max_bytes" in obj ? { kind: "topic", topic, retention: readRetention(obj) } : { kind: "topic", topic };
  }
  throw new ProtocolError("LNC_PROTO_BAD_PAYLOAD", `unrecognised topic response: ${json.slice(0, 200)}`, {
    replyText: "Invalid topic response",
  });
}

function readTopic(obj: Record<string, unknown>): TopicInfo {
  return {
    id: readNumber(obj, "id", WHAT),
    name: readString(obj, "name", WHAT),
    createdAt: readNumber(obj, "created_at", WHAT),
    topicEpoch: readNumber(obj, "topic_epoch", WHAT),
  };
}

function readRetention(obj: Record<string, unknown>): Retention {
  return { maxAgeSecs: readU64(obj, "max_age_secs", WHAT), maxBytes: readU64(obj, "max_bytes", WHAT) };
}
