/**
 * Every LWP v1 message as a typed value. u64 wire fields are bigint; u32 fields are numbers.
 * `type` names follow protocol.md §2.1.
 */

/** Flag 0x04. The payload is opaque records, stored verbatim by the server. */
export interface IngestMessage {
  type: "ingest";
  batchId: bigint;
  timestampNs: bigint;
  recordCount: number;
  topicId: number;
  payload: Uint8Array;
  /** Flag 0x01. Defined upstream, set by no upstream sender. */
  compressed?: boolean;
}

/** Flag 0x08: ingest ack (batchId echoed), and the reply to Unsubscribe (batchId = consumer id). */
export interface AckMessage {
  type: "ack";
  batchId: bigint;
}

export interface KeepaliveMessage {
  type: "keepalive";
}

/** Flag 0x10. Upstream servers never send it; a client treats it as retryable back-off. */
export interface BackpressureMessage {
  type: "backpressure";
}

/** No classifying flag and no payload: upstream ignores such a frame. */
export interface UnknownFrameMessage {
  type: "unknown";
}

export interface CreateTopicMessage {
  type: "createTopic";
  name: string;
}

export interface DeleteTopicMessage {
  type: "deleteTopic";
  topicId: number;
}

export interface ListTopicsMessage {
  type: "listTopics";
}

export interface GetTopicMessage {
  type: "getTopic";
  topicId: number;
}

export interface SetRetentionMessage {
  type: "setRetention";
  topicId: number;
  maxAgeSecs: bigint;
  maxBytes: bigint;
}

export interface CreateTopicWithRetentionMessage {
  type: "createTopicWithRetention";
  name: string;
  maxAgeSecs: bigint;
  maxBytes: bigint;
}

export interface GetClusterStatusMessage {
  type: "getClusterStatus";
}

/**
 * `token` is the payload as bytes: upstream answers "Invalid token encoding" when it is not
 * UTF-8, so the receiver must see it undecoded (use `utf8Strict`).
 */
export interface AuthenticateMessage {
  type: "authenticate";
  token: Uint8Array;
}

export interface AuthenticateResponseMessage {
  type: "authenticateResponse";
  ok: boolean;
  message: string;
}

export interface FetchMessage {
  type: "fetch";
  topicId: number;
  /** A record offset on our server (a byte offset upstream). `TAIL_OFFSET` asks for the tail. */
  startOffset: bigint;
  maxBytes: number;
}

export interface FetchResponseMessage {
  type: "fetchResponse";
  nextOffset: bigint;
  recordCount: number;
  /** The stored ingest payloads, back to back, nothing added. `bytes_returned` = its length. */
  data: Uint8Array;
}

/** The fetch started past the end of the log; `serverOffset` is the end. */
export interface CatchingUpMessage {
  type: "catchingUp";
  serverOffset: bigint;
}

export interface SubscribeMessage {
  type: "subscribe";
  topicId: number;
  startOffset: bigint;
  maxBatchBytes: number;
  consumerId: bigint;
}

export interface SubscribeAckMessage {
  type: "subscribeAck";
  consumerId: bigint;
  startOffset: bigint;
}

export interface UnsubscribeMessage {
  type: "unsubscribe";
  topicId: number;
  consumerId: bigint;
}

export interface CommitOffsetMessage {
  type: "commitOffset";
  topicId: number;
  consumerId: bigint;
  offset: bigint;
}

export interface CommitAckMessage {
  type: "commitAck";
  consumerId: bigint;
  committedOffset: bigint;
}

/**
 * LANCE-TS extension 0x60: the first offset whose batch's newest record is at or after
 * `timestampNs` (ns since the epoch). Lets a consumer start from a point in time.
 */
export interface OffsetForTimeMessage {
  type: "offsetForTime";
  topicId: number;
  timestampNs: bigint;
}

/** Extension 0x61: `offset` answers OffsetForTime; the log end when every record is older. */
export interface OffsetForTimeResponseMessage {
  type: "offsetForTimeResponse";
  offset: bigint;
}

/** JSON text; see topic-json for the bodies. */
export interface TopicResponseMessage {
  type: "topicResponse";
  json: string;
}

/** JSON text; see cluster-status-json. */
export interface ClusterStatusResponseMessage {
  type: "clusterStatusResponse";
  json: string;
}

/** Free text; meaningful prefixes are in error-text. */
export interface ErrorResponseMessage {
  type: "errorResponse";
  message: string;
}

/** What a client sends. */
export type ClientMessage =
  | IngestMessage
  | KeepaliveMessage
  | CreateTopicMessage
  | DeleteTopicMessage
  | ListTopicsMessage
  | GetTopicMessage
  | SetRetentionMessage
  | CreateTopicWithRetentionMessage
  | GetClusterStatusMessage
  | AuthenticateMessage
  | FetchMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | CommitOffsetMessage
  | OffsetForTimeMessage;

/** What a server sends. */
export type ServerMessage =
  | AckMessage
  | KeepaliveMessage
  | BackpressureMessage
  | AuthenticateResponseMessage
  | FetchResponseMessage
  | CatchingUpMessage
  | SubscribeAckMessage
  | CommitAckMessage
  | OffsetForTimeResponseMessage
  | TopicResponseMessage
  | ClusterStatusResponseMessage
  | ErrorResponseMessage;

export type LwpMessage = ClientMessage | ServerMessage | UnknownFrameMessage;

export type LwpMessageType = LwpMessage["type"];

const CLIENT_TYPES: ReadonlySet<LwpMessageType> = new Set<ClientMessage["type"]>([
  "ingest",
  "keepalive",
  "createTopic",
  "deleteTopic",
  "listTopics",
  "getTopic",
  "setRetention",
  "createTopicWithRetention",
  "getClusterStatus",
  "authenticate",
  "fetch",
  "subscribe",
  "unsubscribe",
  "commitOffset",
  "offsetForTime",
]);

/** True for the messages a server answers; false for replies and unknown frames. */
export function isClientMessage(message: LwpMessage): message is ClientMessage {
  return CLIENT_TYPES.has(message.type);
}
