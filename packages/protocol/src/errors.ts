/** Stable error codes. Callers match on `code`, never on message text. */
export type ProtocolErrorCode =
  /** Bytes 0..3 are not "LANC". Fatal for the connection. */
  | "LNC_PROTO_BAD_MAGIC"
  /** Byte 4 is not 1. Fatal. */
  | "LNC_PROTO_BAD_VERSION"
  /** CRC-32 of header bytes 0..7 does not match bytes 8..11. Fatal. */
  | "LNC_PROTO_HEADER_CRC"
  /** CRC-32 of a non-empty payload does not match header bytes 36..39. Fatal. */
  | "LNC_PROTO_PAYLOAD_CRC"
  /** `payload_length` is over the receiver's maximum. Fatal. */
  | "LNC_PROTO_FRAME_TOO_LARGE"
  /** The stream (or a buffer given to `decodeFrame`) ends inside a frame. Fatal. */
  | "LNC_PROTO_TRUNCATED"
  /** Bytes pushed into a FrameDecoder that already failed. */
  | "LNC_PROTO_DECODER_FAILED"
  /** A well-framed message whose payload is malformed. The connection may go on. */
  | "LNC_PROTO_BAD_PAYLOAD"
  /** A control frame with a command code this codec does not know. The connection may go on. */
  | "LNC_PROTO_UNKNOWN_COMMAND"
  /** An encoder was given a value that does not fit its wire field. A programming error. */
  | "LNC_PROTO_BAD_ARGUMENT"
  /** This Node has no `zlib.crc32` (added in Node 20.15 / 22.2). */
  | "LNC_PROTO_CRC_UNAVAILABLE";

const FATAL: ReadonlySet<ProtocolErrorCode> = new Set<ProtocolErrorCode>([
  "LNC_PROTO_BAD_MAGIC",
  "LNC_PROTO_BAD_VERSION",
  "LNC_PROTO_HEADER_CRC",
  "LNC_PROTO_PAYLOAD_CRC",
  "LNC_PROTO_FRAME_TOO_LARGE",
  "LNC_PROTO_TRUNCATED",
  "LNC_PROTO_DECODER_FAILED",
]);

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  /**
   * True when the byte stream can no longer be trusted: the peer must be sent (at most) an
   * ErrorResponse and the connection closed. False for a bad message inside a good frame.
   */
  readonly fatal: boolean;
  /**
   * For errors found while decoding what a peer sent: the text a server puts in its
   * ErrorResponse. Non-fatal errors use upstream's exact strings.
   */
  readonly replyText: string;

  constructor(code: ProtocolErrorCode, message: string, options?: { replyText?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    this.code = code;
    this.fatal = FATAL.has(code);
    this.replyText = options?.replyText ?? `Protocol error: ${message}`;
  }
}

export function isProtocolError(err: unknown, code?: ProtocolErrorCode): err is ProtocolError {
  return err instanceof ProtocolError && (code === undefined || err.code === code);
}
