import fc from "fast-check";
import type { LwpMessage } from "./messages.js";
import { U64_MAX } from "./constants.js";

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** Biased towards the edges that matter: 0, 2^53 and u64::MAX. */
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.constantFrom(0n, 1n, 2n ** 53n, 2n ** 53n + 1n, U64_MAX));
const bytes = fc.uint8Array({ maxLength: 300 });
const text = fc.string({ unit: "binary", maxLength: 40 });

export const messageArb: fc.Arbitrary<LwpMessage> = fc.oneof(
  fc.record({
    type: fc.constant("ingest" as const),
    batchId: u64,
    timestampNs: u64,
    recordCount: u32,
    topicId: u32,
    payload: bytes,
    compressed: fc.boolean(),
  }),
  fc.record({ type: fc.constant("ack" as const), batchId: u64 }),
  fc.constant({ type: "keepalive" as const }),
  fc.constant({ type: "backpressure" as const }),
  fc.constant({ type: "unknown" as const }),
  fc.record({ type: fc.constant("createTopic" as const), name: text }),
  fc.record({ type: fc.constant("deleteTopic" as const), topicId: u32 }),
  fc.constant({ type: "listTopics" as const }),
  fc.record({ type: fc.constant("getTopic" as const), topicId: u32 }),
  fc.record({ type: fc.constant("setRetention" as const), topicId: u32, maxAgeSecs: u64, maxBytes: u64 }),
  fc.record({ type: fc.constant("createTopicWithRetention" as const), name: text, maxAgeSecs: u64, maxBytes: u64 }),
  fc.constant({ type: "getClusterStatus" as const }),
  fc.record({ type: fc.constant("authenticate" as const), token: bytes }),
  fc.record({ type: fc.constant("authenticateResponse" as const), ok: fc.boolean(), message: text }),
  fc.record({ type: fc.constant("fetch" as const), topicId: u32, startOffset: u64, maxBytes: u32 }),
  fc.record({ type: fc.constant("fetchResponse" as const), nextOffset: u64, recordCount: u32, data: bytes }),
  fc.record({ type: fc.constant("catchingUp" as const), serverOffset: u64 }),
  fc.record({ type: fc.constant("subscribe" as const), topicId: u32, startOffset: u64, maxBatchBytes: u32, consumerId: u64 }),
  fc.record({ type: fc.constant("subscribeAck" as const), consumerId: u64, startOffset: u64 }),
  fc.record({ type: fc.constant("unsubscribe" as const), topicId: u32, consumerId: u64 }),
  fc.record({ type: fc.constant("commitOffset" as const), topicId: u32, consumerId: u64, offset: u64 }),
  fc.record({ type: fc.constant("commitAck" as const), consumerId: u64, committedOffset: u64 }),
  fc.record({ type: fc.constant("offsetForTime" as const), topicId: u32, timestampNs: u64 }),
  fc.record({ type: fc.constant("offsetForTimeResponse" as const), offset: u64 }),
  fc.record({ type: fc.constant("topicResponse" as const), json: text }),
  fc.record({ type: fc.constant("clusterStatusResponse" as const), json: text }),
  fc.record({ type: fc.constant("errorResponse" as const), message: text }),
);

/** Encoded frames of random messages. */
export const framesArb = (maxLength: number) => fc.array(messageArb, { minLength: 1, maxLength });

/** Cut points (sorted, unique, inside 1..length-1) that split a buffer of `length` bytes. */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(bytes.subarray(at, p));
    at = p;
  }
  parts.push(bytes.subarray(at));
  return parts;
}
