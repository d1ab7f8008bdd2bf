import { isRetryableErrorText, parseErrorText, type ErrorTextKind } from "@lance/protocol";

/** Stable error codes. Callers match on `code`, never on message text. */
export type ClientErrorCode =
  /** A `host:port` string that does not parse. */
  | "LNC_CLIENT_BAD_ADDRESS"
  /** An argument the client refuses before anything is sent (bad offset, oversized record...). */
  | "LNC_CLIENT_BAD_ARGUMENT"
  /** TCP connect failed (refused, unreachable, DNS). Retryable. */
  | "LNC_CLIENT_CONNECT_FAILED"
  /** TCP connect did not complete within `connectTimeoutMs`. Retryable. */
  | "LNC_CLIENT_CONNECT_TIMEOUT"
  /** A frame could not be handed to the kernel within `writeTimeoutMs`. Retryable. */
  | "LNC_CLIENT_WRITE_TIMEOUT"
  /** No reply within `requestTimeoutMs`; the connection is closed because FIFO matching is lost. Retryable. */
  | "LNC_CLIENT_REQUEST_TIMEOUT"
  /** The connection closed (or was closed) before the reply arrived. Retryable. */
  | "LNC_CLIENT_CONNECTION_CLOSED"
  /** The server sent bytes that are not a valid LWP frame. The connection is closed. Retryable. */
  | "LNC_CLIENT_PROTOCOL"
  /** A valid frame that cannot be the reply to the request at the head of the queue. Retryable. */
  | "LNC_CLIENT_UNEXPECTED_REPLY"
  /** The server refused an ingest for load and wrote nothing. Retryable after a delay. */
  | "LNC_CLIENT_BACKPRESSURE"
  /** `NOT_LEADER: ...`; `leader` holds the redirect address when the server named one. Retryable. */
  | "LNC_CLIENT_NOT_LEADER"
  /** `NO_QUORUM: ...`. Retryable. */
  | "LNC_CLIENT_NO_QUORUM"
  /** `FORWARD_FAILED: ...`. Retryable. */
  | "LNC_CLIENT_FORWARD_FAILED"
  /** `READ_ONLY: ...`: the server rejects writes. */
  | "LNC_CLIENT_READ_ONLY"
  /** `Authentication required`. */
  | "LNC_CLIENT_AUTH_REQUIRED"
  /** The topic does not exist (server text, or a name that no listed topic has). */
  | "LNC_CLIENT_TOPIC_NOT_FOUND"
  /** Any other ErrorResponse text (validation, already exists, ...). */
  | "LNC_CLIENT_SERVER_ERROR"
  /** Fetched data does not split into the records the server counted (not TLV-framed?). */
  | "LNC_CLIENT_FRAMING"
  /** The connection, producer or consumer was closed by its owner. */
  | "LNC_CLIENT_CLOSED"
  /** The offset file could not be read or written. */
  | "LNC_CLIENT_OFFSET_STORE"
  /** A certificate was refused (ours by the server, or the server's by us): retrying cannot help. */
  | "LNC_CLIENT_TLS";

const RETRYABLE: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  "LNC_CLIENT_CONNECT_FAILED",
  "LNC_CLIENT_CONNECT_TIMEOUT",
  "LNC_CLIENT_WRITE_TIMEOUT",
  "LNC_CLIENT_REQUEST_TIMEOUT",
  "LNC_CLIENT_CONNECTION_CLOSED",
  "LNC_CLIENT_PROTOCOL",
  "LNC_CLIENT_UNEXPECTED_REPLY",
  "LNC_CLIENT_BACKPRESSURE",
  "LNC_CLIENT_NOT_LEADER",
  "LNC_CLIENT_NO_QUORUM",
  "LNC_CLIENT_FORWARD_FAILED",
]);

/** Codes after which the connection they happened on is gone (or must not be used again). */
const CONNECTION_LOST: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  "LNC_CLIENT_CONNECT_FAILED",
  "LNC_CLIENT_CONNECT_TIMEOUT",
  "LNC_CLIENT_WRITE_TIMEOUT",
  "LNC_CLIENT_REQUEST_TIMEOUT",
  "LNC_CLIENT_CONNECTION_CLOSED",
  "LNC_CLIENT_PROTOCOL",
  "LNC_CLIENT_UNEXPECTED_REPLY",
]);

export interface ClientErrorDetails {
  cause?: unknown;
  /** The ErrorResponse text, for errors the server sent. */
  serverText?: string;
  /** How `serverText` classifies (protocol's `parseErrorText`). */
  serverKind?: ErrorTextKind["kind"];
  /** For NOT_LEADER with a redirect: the leader's `host:port`. */
  leader?: string;
  /** The server address the error happened against. */
  server?: string;
}

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  /** True when sending the same request again (possibly elsewhere, after a delay) may succeed. */
  readonly retryable: boolean;
  /** True when the connection the error happened on can no longer be used. */
  readonly connectionLost: boolean;
  readonly serverText: string | undefined;
  readonly serverKind: ErrorTextKind["kind"] | undefined;
  readonly leader: string | undefined;
  readonly server: string | undefined;

  constructor(code: ClientErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ClientError";
    this.code = code;
    this.retryable = RETRYABLE.has(code);
    this.connectionLost = CONNECTION_LOST.has(code);
    this.serverText = details.serverText;
    this.serverKind = details.serverKind;
    this.leader = details.leader;
    this.server = details.server;
  }
}

export function isClientError(err: unknown, code?: ClientErrorCode): err is ClientError {
  return err instanceof ClientError && (code === undefined || err.code === code);
}

const TOPIC_NOT_FOUND = /^(Unknown topic|Topic not found|(Configuration error: )?Topic \d+ not found)$/;

/** Turns an ErrorResponse text into a typed error, keeping the text. */
export function serverError(text: string, server?: string): ClientError {
  const parsed = parseErrorText(text);
  const details: ClientErrorDetails = { serverText: text, serverKind: parsed.kind };
  if (server !== undefined) details.server = server;
  const message = `server${server ? ` ${server}` : ""} replied: ${text}`;
  switch (parsed.kind) {
    case "notLeader":
      if (parsed.leader !== null) details.leader = parsed.leader;
      return new ClientError("LNC_CLIENT_NOT_LEADER", message, details);
    case "noQuorum":
      return new ClientError("LNC_CLIENT_NO_QUORUM", message, details);
    case "forwardFailed":
      return new ClientError("LNC_CLIENT_FORWARD_FAILED", message, details);
    case "readOnly":
      return new ClientError("LNC_CLIENT_READ_ONLY", message, details);
    case "authenticationRequired":
      return new ClientError("LNC_CLIENT_AUTH_REQUIRED", message, details);
    case "other":
      if (TOPIC_NOT_FOUND.test(text)) return new ClientError("LNC_CLIENT_TOPIC_NOT_FOUND", message, details);
      // Upstream's rule: any text mentioning FORWARD_FAILED is worth retrying.
      if (isRetryableErrorText(text)) return new ClientError("LNC_CLIENT_FORWARD_FAILED", message, details);
      return new ClientError("LNC_CLIENT_SERVER_ERROR", message, details);
  }
}
