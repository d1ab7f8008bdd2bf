import { LanceError } from "@lance/segment-format";
import { decodeIngestEntry, encodeIngestEntry, type IngestEntry } from "../wal-entry.js";

/**
 * What a Raft entry asks the state machine to do. Byte 0 says which; an ingest is followed by
 * the ingest layout of wal-entry.ts (topic, offsets, producer payload), the topic changes by
 * a small JSON body. Everything a replica needs to apply it identically is in the entry:
 * offsets, topic ids and creation times are decided once, by the leader that proposes it.
 */
export type Command =
  | { kind: "ingest"; entry: IngestEntry }
  | { kind: "createTopic"; name: string; id: number; createdAt: number; retention: { maxAgeSecs: number; maxBytes: number } | null }
  | { kind: "deleteTopic"; topicId: number }
  | { kind: "setRetention"; topicId: number; retention: { maxAgeSecs: number; maxBytes: number } }
  /** CommitOffset; u64 values as decimal strings (JSON has no 64-bit integers). */
  | { kind: "commitOffset"; topicId: number; consumerId: string; offset: string };

const KIND_INGEST = 1;
const KIND_JSON = 2;

export function encodeCommand(c: Command): Uint8Array {
  if (c.kind === "ingest") {
    const [head, payload] = encodeIngestEntry(c.entry);
    const out = Buffer.allocUnsafe(1 + head.byteLength + payload.byteLength);
    out[0] = KIND_INGEST;
    out.set(head, 1);
    out.set(payload, 1 + head.byteLength);
    return out;
  }
  const json = Buffer.from(JSON.stringify(c), "utf8");
  const out = Buffer.allocUnsafe(1 + json.byteLength);
  out[0] = KIND_JSON;
  out.set(json, 1);
  return out;
}

export function decodeCommand(data: Uint8Array, index: number): Command {
  const kind = data[0];
  const body = data.subarray(1);
  if (kind === KIND_INGEST) return { kind: "ingest", entry: decodeIngestEntry(body, index) };
  if (kind === KIND_JSON) {
    let c: unknown;
    try {
      c = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
    } catch (err) {
      throw new LanceError("LNC_BAD_ENTRY", `Raft entry ${index} holds an unreadable topic command`, { cause: err });
    }
    const k = (c as { kind?: unknown }).kind;
    if (k === "createTopic" || k === "deleteTopic" || k === "setRetention" || k === "commitOffset") return c as Command;
    throw new LanceError("LNC_BAD_ENTRY", `Raft entry ${index} holds an unknown topic command ${JSON.stringify(k)}`);
  }
  throw new LanceError("LNC_BAD_ENTRY", `Raft entry ${index} has unknown command kind ${kind}`);
}
