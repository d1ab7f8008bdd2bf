/** "LANC": the first four bytes of every frame. */
export const MAGIC = Uint8Array.of(0x4c, 0x41, 0x4e, 0x43);
export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 44;

/** Upstream's default `max_payload_size`: larger frames close the connection. */
export const DEFAULT_MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024;

/**
 * Largest fetch `data` the upstream Rust client accepts: it refuses inbound frames over 16 MiB
 * including the 44-byte header, and a FetchResponse payload has a 16-byte header of its own.
 */
export const MAX_FETCH_RESPONSE_DATA = DEFAULT_MAX_PAYLOAD_LENGTH - HEADER_SIZE - 16;

export const U32_MAX = 0xffff_ffff;
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Fetch `start_offset` meaning "the tail": the reply carries no data and next_offset = end. */
export const TAIL_OFFSET = U64_MAX;

export const Flag = {
  Compressed: 0x01,
  Encrypted: 0x02,
  BatchMode: 0x04,
  Ack: 0x08,
  Backpressure: 0x10,
  Keepalive: 0x20,
  Control: 0x40,
} as const;

/** Control command codes, carried in the low byte of `batch_id`. */
export const Command = {
  CreateTopic: 0x01,
  DeleteTopic: 0x02,
  ListTopics: 0x03,
  GetTopic: 0x04,
  SetRetention: 0x05,
  CreateTopicWithRetention: 0x06,
  GetClusterStatus: 0x07,
  Authenticate: 0x08,
  AuthenticateResponse: 0x09,
  Fetch: 0x10,
  FetchResponse: 0x11,
  CatchingUp: 0x12,
  Subscribe: 0x20,
  Unsubscribe: 0x21,
  CommitOffset: 0x22,
  SubscribeAck: 0x23,
  CommitAck: 0x24,
  /** LANCE-TS extension (0x60-0x6F are ours): first offset at or after a timestamp. */
  OffsetForTime: 0x60,
  OffsetForTimeResponse: 0x61,
  TopicResponse: 0x80,
  ClusterStatusResponse: 0x81,
  ErrorResponse: 0xff,
} as const;

export type CommandCode = (typeof Command)[keyof typeof Command];
