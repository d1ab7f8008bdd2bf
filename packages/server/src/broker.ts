import {
  ErrorText,
  MAX_FETCH_RESPONSE_DATA,
  TAIL_OFFSET,
  U32_MAX,
  encodeFetchResponseParts,
  encodeMessage,
  formatClusterStatus,
  formatTopicResponse,
  readOnlyText,
  utf8Strict,
  type ClientMessage,
  type ClusterStatus,
  type FetchMessage,
  type IngestMessage,
  type TopicInfo,
} from "@lance/protocol";
import { isLanceError } from "@lance/segment-format";
import type { ServerConfig } from "./config.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import type { Topic, TopicRegistry } from "./topic-registry.js";
import type { WritePath } from "./write-path.js";
import type { ConsumerOffsets } from "./consumer-offsets.js";
import type { AuthSession, TokenAuth } from "./auth.js";
import { checkAccess } from "./access.js";

/** A reply: one frame, or a frame split in parts (fetch data is written without copying). */
export type Reply = Uint8Array | Uint8Array[];

const error = (message: string): Reply => encodeMessage({ type: "errorResponse", message });

/**
 * Answers one client request. Every request gets exactly one reply (design.md D5: unlike
 * upstream, an empty ingest is acked), in the order requests arrive (the connection keeps it).
 */
export class Broker {
  constructor(
    private readonly cfg: ServerConfig,
    private readonly topics: TopicRegistry,
    private readonly writes: WritePath,
    private readonly offsets: ConsumerOffsets,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly auth: TokenAuth,
    private readonly clusterStatus: () => ClusterStatus,
  ) {}

  /**
   * The auth check and Authenticate itself run synchronously, before the first await, so a
   * pipelined Authenticate is in effect for the very next frame of the connection.
   */
  async handle(msg: ClientMessage, session: AuthSession): Promise<Reply> {
    if (!this.auth.permits(session, msg.type)) {
      this.metrics.authFailures.inc({ reason: "unauthenticated" });
      this.log.warn({ peer: session.peer, request: msg.type }, "request refused: connection not authenticated");
      return error(ErrorText.AuthenticationRequired);
    }
    const denied = checkAccess(this.auth, this.topics, msg, session, this.metrics, this.log);
    if (denied) return denied;
    if (msg.type === "authenticate") return this.authenticate(msg.token, session);
    try {
      return await this.dispatch(msg);
    } catch (err) {
      if (isLanceError(err)) {
        if (err.code === "LNC_CRC_MISMATCH") {
          // Stored data failed its checksum: the operator must hear of it (runbook 2.1).
          this.metrics.errors.inc({ type: "checksum" });
          this.log.error({ code: err.code, request: msg.type }, err.message);
        } else this.log.debug({ code: err.code, request: msg.type }, err.message);
        return error(err.message);
      }
      this.metrics.errors.inc({ type: "internal" });
      this.log.error({ err: err instanceof Error ? err.stack : String(err), request: msg.type }, "request failed");
      return error(`Internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private authenticate(raw: Uint8Array, session: AuthSession): Reply {
    const outcome = this.auth.authenticate(session, raw, utf8Strict(raw));
    if (outcome.ok) return encodeMessage({ type: "authenticateResponse", ok: true, message: "Authenticated" });
    this.metrics.authFailures.inc({ reason: outcome.reason });
    if (outcome.reason === "invalid_token") this.log.warn({ peer: session.peer }, "authentication failed: invalid token");
    const message = { no_token: "No token provided", bad_encoding: "Invalid token encoding", invalid_token: "Invalid token" }[outcome.reason];
    return encodeMessage({ type: "authenticateResponse", ok: false, message });
  }

  private async dispatch(msg: Exclude<ClientMessage, { type: "authenticate" }>): Promise<Reply> {
    switch (msg.type) {
      case "ingest":
        return this.ingest(msg);
      case "keepalive":
        return encodeMessage({ type: "keepalive" });
      case "fetch":
        return this.fetch(msg);
      case "createTopic":
      case "createTopicWithRetention": {
        if (this.cfg.readOnly) return error(readOnlyText());
        this.writes.assertWritable();
        const retention = msg.type === "createTopicWithRetention" ? { maxAgeSecs: Number(msg.maxAgeSecs), maxBytes: Number(msg.maxBytes) } : null;
        if (msg.name.length === 0) return error("Topic name required");
        const t = await this.writes.createTopic(msg.name, retention);
        return this.topicReply(t, msg.type === "createTopicWithRetention");
      }
      case "listTopics":
        return encodeMessage({ type: "topicResponse", json: formatTopicResponse({ kind: "topics", topics: this.topics.list().map(info) }) });
      case "getTopic": {
        const t = this.topics.get(msg.topicId);
        return t ? this.topicReply(t, false) : error("Topic not found");
      }
      case "deleteTopic": {
        if (this.cfg.readOnly) return error(readOnlyText());
        this.writes.assertWritable();
        const t = this.topics.get(msg.topicId);
        if (!t) return error(`Configuration error: Topic ${msg.topicId} not found`);
        await this.writes.deleteTopic(t);
        return encodeMessage({ type: "topicResponse", json: formatTopicResponse({ kind: "deleted", topicId: msg.topicId }) });
      }
      case "setRetention": {
        if (this.cfg.readOnly) return error(readOnlyText());
        this.writes.assertWritable();
        const t = this.topics.get(msg.topicId);
        if (!t) return error(`Configuration error: Topic ${msg.topicId} not found`);
        await this.writes.setRetention(t, { maxAgeSecs: Number(msg.maxAgeSecs), maxBytes: Number(msg.maxBytes) });
        return encodeMessage({
          type: "topicResponse",
          json: formatTopicResponse({ kind: "retention", topicId: msg.topicId, retention: { maxAgeSecs: msg.maxAgeSecs, maxBytes: msg.maxBytes } }),
        });
      }
      case "getClusterStatus":
        return encodeMessage({ type: "clusterStatusResponse", json: formatClusterStatus(this.clusterStatus()) });
      case "subscribe": {
        const t = this.topics.get(msg.topicId);
        if (!t) return error("Topic not found");
        let start = msg.startOffset;
        if (start === 0n) start = BigInt(this.offsets.get(t.meta.id, msg.consumerId) ?? 0);
        return encodeMessage({ type: "subscribeAck", consumerId: msg.consumerId, startOffset: start });
      }
      case "unsubscribe":
        return encodeMessage({ type: "ack", batchId: msg.consumerId });
      case "offsetForTime": {
        const t = this.topics.get(msg.topicId);
        if (!t) return error(`Topic ${msg.topicId} not found`);
        const offset = await t.reader.offsetForTime(msg.timestampNs);
        return encodeMessage({ type: "offsetForTimeResponse", offset: BigInt(offset ?? t.writer.nextOffset) });
      }
      case "commitOffset": {
        const t = this.topics.get(msg.topicId);
        if (!t) return error("Topic not found");
        await this.writes.commitOffset(t, msg.consumerId, msg.offset);
        return encodeMessage({ type: "commitAck", consumerId: msg.consumerId, committedOffset: msg.offset });
      }
    }
  }

  private topicReply(t: Topic, withRetention: boolean): Reply {
    const r = t.meta.retention;
    const retention = withRetention ? { maxAgeSecs: BigInt(r?.max_age_secs ?? 0), maxBytes: BigInt(r?.max_bytes ?? 0) } : undefined;
    return encodeMessage({ type: "topicResponse", json: formatTopicResponse({ kind: "topic", topic: info(t), ...(retention ? { retention } : {}) }) });
  }

  private async ingest(msg: IngestMessage): Promise<Reply> {
    const started = process.hrtime.bigint();
    if (this.cfg.readOnly) return error(readOnlyText());
    this.writes.assertWritable();
    const topic = this.topics.get(msg.topicId);
    if (!topic) return error(ErrorText.UnknownTopic);
    if (msg.payload.byteLength === 0) return encodeMessage({ type: "ack", batchId: msg.batchId });
    if (this.writes.inFlightBytes + msg.payload.byteLength > this.cfg.maxPendingIngestBytes) {
      this.metrics.backpressure.inc();
      return encodeMessage({ type: "backpressure" });
    }
    // An ingest claiming 0 records still stores its bytes: it takes one offset. One claiming
    // more records than it has bytes would burn offsets for nothing (every record is >= 1 byte).
    const recordCount = Math.max(1, msg.recordCount);
    if (recordCount > msg.payload.byteLength) {
      return error(`Invalid data: record_count ${msg.recordCount} exceeds the ${msg.payload.byteLength}-byte payload (every record takes at least one byte)`);
    }
    await this.writes.ingest(topic, { payload: msg.payload, recordCount, timestampNs: msg.timestampNs, flags: msg.compressed ? 1 : 0 });
    this.metrics.ingestLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return encodeMessage({ type: "ack", batchId: msg.batchId });
  }

  /**
   * Fetch by record offset (design.md D5): whole batches from the one holding `startOffset`,
   * at least one, within `maxBytes` (and always under the 16 MiB reply cap); `next_offset` is
   * one past the last record returned. Data is the stored payloads back to back, nothing added.
   */
  private async fetch(msg: FetchMessage): Promise<Reply> {
    const started = process.hrtime.bigint();
    const topic = this.topics.get(msg.topicId);
    if (!topic) return error(`Topic ${msg.topicId} not found`);
    const end = BigInt(topic.writer.nextOffset);
    if (msg.startOffset === TAIL_OFFSET) return encodeFetchResponseParts(end, 0, []);
    if (msg.startOffset > end) return encodeMessage({ type: "catchingUp", serverOffset: end });
    if (msg.startOffset === end || msg.maxBytes === 0) return encodeFetchResponseParts(msg.startOffset, 0, []);
    const budget = Math.min(msg.maxBytes, MAX_FETCH_RESPONSE_DATA);
    const res = await topic.reader.read(Number(msg.startOffset), budget);
    const batches = res.batches;
    // The reply cap is absolute: trim batches that would push the frame past it.
    let total = 0;
    let n = 0;
    let records = 0;
    while (n < batches.length && total + batches[n]!.payloadLength <= MAX_FETCH_RESPONSE_DATA && records + batches[n]!.recordCount <= U32_MAX) {
      total += batches[n]!.payloadLength;
      records += batches[n++]!.recordCount;
    }
    const kept = batches.slice(0, n);
    const next = kept.length ? kept[kept.length - 1]!.nextOffset : Number(msg.startOffset);
    this.metrics.reads.inc();
    this.metrics.readBytes.inc(total);
    this.metrics.fetchLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return encodeFetchResponseParts(BigInt(next), records, kept.map((b) => b.payload));
  }

}

function info(t: Topic): TopicInfo {
  return { id: t.meta.id, name: t.meta.name, createdAt: t.meta.created_at, topicEpoch: t.meta.topic_epoch };
}
