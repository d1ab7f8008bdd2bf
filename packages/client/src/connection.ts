import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import {
  FrameDecoder,
  TAIL_OFFSET,
  decodeMessage,
  encodeMessage,
  isProtocolError,
  parseClusterStatus,
  parseTopicResponse,
  type ClientMessage,
  type ClusterStatus,
  type LwpMessage,
  type ServerMessage,
  type TopicResponseBody,
} from "@lance/protocol";
import { formatAddress, parseAddress, type ServerAddress } from "./address.js";
import { Slots } from "./async-utils.js";
import { ClientError, serverError } from "./errors.js";

export interface ConnectionOptions {
  /** TCP connect deadline. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Deadline for a frame to be handed to the kernel. Default 10 000 ms. */
  writeTimeoutMs?: number;
  /** Deadline from a request's write to its reply. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** Requests written and not yet answered; more wait for a slot. Default 64. */
  maxInFlight?: number;
  /** Sent in an Authenticate frame right after connecting (servers with `[auth] enabled`). */
  token?: string;
  /** Connect with TLS (servers with `[tls] enabled`). */
  tls?: ClientTlsOptions;
}

/** PEM contents (not paths), as node:tls takes them. */
export interface ClientTlsOptions {
  /** CA(s) the server certificate must chain to; default: Node's bundled roots. */
  ca?: string | Buffer;
  /** Client certificate and key, for servers with `require_client_cert` (mTLS). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name the server certificate must carry; default: the host of the address. */
  servername?: string;
}

type ResolvedOptions = Required<Omit<ConnectionOptions, "token" | "tls">> & Pick<ConnectionOptions, "token" | "tls">;

export type FetchResult =
  /** `recordCount` records, offsets `[nextOffset − recordCount, nextOffset)`; empty data at the end of the log. */
  | { kind: "data"; nextOffset: bigint; recordCount: number; data: Uint8Array }
  /** The requested offset is past the end; `end` is one past the last record. */
  | { kind: "catchingUp"; end: bigint };

interface Pending {
  request: ClientMessage;
  /** Ingest only: the batch id the Ack must echo. */
  batchId: bigint;
  resolve: (reply: ServerMessage) => void;
  reject: (err: ClientError) => void;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULTS = { connectTimeoutMs: 10_000, writeTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxInFlight: 64 };

/**
 * One TCP connection to a LANCE server. LWP has no correlation ids: replies come back in
 * request order, so requests are written in the order `request` is called and each reply is
 * matched to the oldest unanswered request. Up to `maxInFlight` requests are pipelined.
 * Anything that breaks the order (a timeout, a frame that cannot be the head's reply, bad
 * bytes) closes the connection and fails every pending request with a retryable error.
 */
export class Connection {
  readonly address: string;
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder();
  private readonly pending: Pending[] = [];
  private readonly slots: Slots;
  private readonly options: ResolvedOptions;
  private nextBatchId = 1n;
  private failure: ClientError | null = null;
  private retiring = false;

  private constructor(address: string, socket: Socket, options: ResolvedOptions) {
    this.address = address;
    this.socket = socket;
    this.options = options;
    this.slots = new Slots(options.maxInFlight);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      const code = options.tls && certificateRefused(err) ? "LNC_CLIENT_TLS" : "LNC_CLIENT_CONNECTION_CLOSED";
      this.fail(new ClientError(code, `connection to ${address} failed: ${err.message}${options.tls ? tlsHint(err) : ""}`, { cause: err, server: address }));
    });
    socket.on("close", () => this.fail(new ClientError("LNC_CLIENT_CONNECTION_CLOSED", `connection to ${address} closed by the server`, { server: address })));
  }

  /**
   * Opens a connection with TCP_NODELAY and, given a `token`, authenticates it. A refused
   * token rejects with LNC_CLIENT_AUTH_REQUIRED (not retryable) and closes the connection.
   */
  static async connect(server: string | ServerAddress, options: ConnectionOptions = {}): Promise<Connection> {
    const conn = await Connection.open(server, options);
    if (options.token === undefined) return conn;
    let reply: ServerMessage;
    try {
      reply = await conn.request({ type: "authenticate", token: Buffer.from(options.token, "utf8") });
    } catch (err) {
      conn.close();
      throw err;
    }
    if (reply.type === "authenticateResponse" && reply.ok) return conn;
    conn.close();
    if (reply.type !== "authenticateResponse") throw conn.errorFor(reply);
    throw new ClientError("LNC_CLIENT_AUTH_REQUIRED", `server ${conn.address} refused the token: ${reply.message}`, { server: conn.address });
  }

  private static open(server: string | ServerAddress, options: ConnectionOptions): Promise<Connection> {
    const addr = typeof server === "string" ? parseAddress(server) : server;
    const address = formatAddress(addr);
    const o = { ...DEFAULTS, ...definedOnly(options) };
    if (!Number.isInteger(o.maxInFlight) || o.maxInFlight < 1) {
      return Promise.reject(new ClientError("LNC_CLIENT_BAD_ARGUMENT", `maxInFlight must be a positive integer, got ${o.maxInFlight}`));
    }
    const tls = o.tls;
    return new Promise((resolve, reject) => {
      const socket = tls
        ? tlsConnect({
            host: addr.host,
            port: addr.port,
            ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
            ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
            ...(tls.key !== undefined ? { key: tls.key } : {}),
            // SNI must not be an IP address; the certificate's IP SAN is still checked.
            ...(tls.servername !== undefined ? { servername: tls.servername } : isIP(addr.host) ? {} : { servername: addr.host }),
          })
        : netConnect({ host: addr.host, port: addr.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        const hint = tls ? " (TLS handshake not completed: is [tls] enabled on the server?)" : "";
        reject(new ClientError("LNC_CLIENT_CONNECT_TIMEOUT", `no connection to ${address} within ${o.connectTimeoutMs} ms${hint}`, { server: address }));
      }, o.connectTimeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        const message = tls ? `TLS connection to ${address} failed: ${err.message}${tlsHint(err)}` : `cannot connect to ${address}: ${err.message}`;
        const code = tls && certificateRefused(err) ? "LNC_CLIENT_TLS" : "LNC_CLIENT_CONNECT_FAILED";
        reject(new ClientError(code, message, { cause: err, server: address }));
      };
      socket.once("error", onError);
      socket.once(tls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        socket.off("error", onError);
        socket.setNoDelay(true);
        resolve(new Connection(address, socket, o));
      });
    });
  }

  /** False once the connection failed or was closed; a retiring connection is still open. */
  get open(): boolean {
    return this.failure === null;
  }

  /** Usable for new requests. */
  get usable(): boolean {
    return this.failure === null && !this.retiring;
  }

  get inFlight(): number {
    return this.pending.length;
  }

  /**
   * Sends one request and resolves with its reply, ErrorResponse included (the typed helpers
   * below turn those into errors). Rejects with a retryable ClientError when the connection
   * is lost before the reply.
   */
  async request(message: ClientMessage): Promise<ServerMessage> {
    this.checkUsable();
    await this.slots.acquire();
    try {
      this.checkUsable();
    } catch (err) {
      this.slots.release();
      throw err;
    }
    return new Promise<ServerMessage>((resolve, reject) => {
      const batchId = message.type === "ingest" ? this.nextBatchId++ : 0n;
      const frame = encodeMessage(message.type === "ingest" ? { ...message, batchId } : message);
      const entry: Pending = { request: message, batchId, resolve, reject, timer: undefined };
      this.pending.push(entry);
      const writeTimer = setTimeout(
        () => this.fail(new ClientError("LNC_CLIENT_WRITE_TIMEOUT", `write to ${this.address} did not complete within ${this.options.writeTimeoutMs} ms`, { server: this.address })),
        this.options.writeTimeoutMs,
      );
      this.socket.write(frame, () => clearTimeout(writeTimer));
      entry.timer = setTimeout(() => {
        const err = new ClientError("LNC_CLIENT_REQUEST_TIMEOUT", `no reply to ${message.type} from ${this.address} within ${this.options.requestTimeoutMs} ms`, {
          server: this.address,
        });
        this.settle(entry, err);
        this.fail(new ClientError("LNC_CLIENT_CONNECTION_CLOSED", `connection to ${this.address} closed after a request timed out`, { cause: err, server: this.address }));
      }, this.options.requestTimeoutMs);
    });
  }

  /**
   * Writes one ingest and waits for its Ack. Resolves once the batch is durable. The batch id
   * is this connection's counter (1, 2, ... as upstream). Throws LNC_CLIENT_BACKPRESSURE when
   * the server refused it for load (nothing was written).
   */
  async ingest(topicId: number, payload: Uint8Array, recordCount: number, timestampNs: bigint = nowNs()): Promise<void> {
    const reply = await this.request({ type: "ingest", batchId: 0n, timestampNs, recordCount, topicId, payload });
    if (reply.type === "ack") return;
    if (reply.type === "backpressure") {
      throw new ClientError("LNC_CLIENT_BACKPRESSURE", `server ${this.address} refused the ingest for load (backpressure); nothing was written`, { server: this.address });
    }
    throw this.errorFor(reply);
  }

  /** One Fetch. `startOffset` is a record offset; `TAIL_OFFSET` asks for the end. */
  async fetch(topicId: number, startOffset: bigint, maxBytes: number): Promise<FetchResult> {
    const reply = await this.request({ type: "fetch", topicId, startOffset, maxBytes });
    if (reply.type === "fetchResponse") return { kind: "data", nextOffset: reply.nextOffset, recordCount: reply.recordCount, data: reply.data };
    if (reply.type === "catchingUp") return { kind: "catchingUp", end: reply.serverOffset };
    throw this.errorFor(reply);
  }

  /** The offset one past the last record of the topic. */
  async endOffset(topicId: number): Promise<bigint> {
    const r = await this.fetch(topicId, TAIL_OFFSET, 1);
    return r.kind === "data" ? r.nextOffset : r.end;
  }

  /**
   * The first offset whose batch's newest record is at or after `timestampNs` (the log end
   * when every record is older). A LANCE-TS extension: upstream servers refuse it.
   */
  async offsetForTime(topicId: number, timestampNs: bigint): Promise<bigint> {
    const reply = await this.request({ type: "offsetForTime", topicId, timestampNs });
    if (reply.type === "offsetForTimeResponse") return reply.offset;
    throw this.errorFor(reply);
  }

  /** Sends a topic command and parses its TopicResponse. */
  async topicCommand(message: ClientMessage): Promise<TopicResponseBody> {
    const reply = await this.request(message);
    if (reply.type === "topicResponse") return parseTopicResponse(reply.json);
    throw this.errorFor(reply);
  }

  async clusterStatus(): Promise<ClusterStatus> {
    const reply = await this.request({ type: "getClusterStatus" });
    if (reply.type === "clusterStatusResponse") return parseClusterStatus(reply.json);
    throw this.errorFor(reply);
  }

  async ping(): Promise<void> {
    await this.request({ type: "keepalive" });
  }

  /** Refuses new requests and closes once every pending one is answered. */
  retire(): void {
    this.retiring = true;
    if (this.pending.length === 0) this.close();
  }

  /** Closes now; pending requests fail with LNC_CLIENT_CLOSED. */
  close(): void {
    this.fail(new ClientError("LNC_CLIENT_CLOSED", `connection to ${this.address} was closed by the client`, { server: this.address }));
  }

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.retiring) throw new ClientError("LNC_CLIENT_CONNECTION_CLOSED", `connection to ${this.address} is closing`, { server: this.address });
  }

  /** The error an unexpected or ErrorResponse reply stands for. */
  errorFor(reply: ServerMessage): ClientError {
    if (reply.type === "errorResponse") return serverError(reply.message, this.address);
    return new ClientError("LNC_CLIENT_UNEXPECTED_REPLY", `unexpected ${reply.type} reply from ${this.address}`, { server: this.address });
  }

  private onData(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) {
        let message: LwpMessage;
        try {
          message = decodeMessage(frame);
        } catch (err) {
          if (!isProtocolError(err)) throw err;
          this.fail(new ClientError("LNC_CLIENT_PROTOCOL", `bad reply from ${this.address}: ${err.message}`, { cause: err, server: this.address }));
          return;
        }
        this.onReply(message);
        if (this.failure) return;
      }
    } catch (err) {
      if (!isProtocolError(err)) throw err;
      this.fail(new ClientError("LNC_CLIENT_PROTOCOL", `bad bytes from ${this.address}: ${err.message}`, { cause: err, server: this.address }));
    }
  }

  private onReply(message: LwpMessage): void {
    const head = this.pending[0];
    if (!head) {
      this.fail(new ClientError("LNC_CLIENT_UNEXPECTED_REPLY", `unsolicited ${message.type} frame from ${this.address}`, { server: this.address }));
      return;
    }
    if (!answers(head, message)) {
      this.fail(
        new ClientError("LNC_CLIENT_UNEXPECTED_REPLY", `${message.type} cannot answer the pending ${head.request.type} (replies out of order?) from ${this.address}`, {
          server: this.address,
        }),
      );
      return;
    }
    this.pending.shift();
    this.settle(head, message as ServerMessage);
    if (this.retiring && this.pending.length === 0) this.close();
  }

  private settle(entry: Pending, outcome: ServerMessage | ClientError): void {
    clearTimeout(entry.timer);
    const i = this.pending.indexOf(entry);
    if (i >= 0) this.pending.splice(i, 1);
    this.slots.release();
    if (outcome instanceof ClientError) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  private fail(err: ClientError): void {
    if (this.failure) return;
    this.failure = err;
    this.socket.destroy();
    for (const entry of [...this.pending]) this.settle(entry, err);
  }
}

/** Whether `reply` is a possible answer to `p` (protocol.md §2, docs/protocol.md §7). */
function answers(p: Pending, reply: LwpMessage): boolean {
  if (reply.type === "errorResponse") return p.request.type !== "keepalive";
  switch (p.request.type) {
    case "ingest":
      return (reply.type === "ack" && reply.batchId === p.batchId) || reply.type === "backpressure";
    case "keepalive":
      return reply.type === "keepalive";
    case "fetch":
      return reply.type === "fetchResponse" || reply.type === "catchingUp";
    case "createTopic":
    case "deleteTopic":
    case "listTopics":
    case "getTopic":
    case "setRetention":
    case "createTopicWithRetention":
      return reply.type === "topicResponse";
    case "getClusterStatus":
      return reply.type === "clusterStatusResponse";
    case "authenticate":
      return reply.type === "authenticateResponse";
    case "subscribe":
      return reply.type === "subscribeAck";
    case "unsubscribe":
      return reply.type === "ack" && reply.batchId === p.request.consumerId;
    case "commitOffset":
      return reply.type === "commitAck";
    case "offsetForTime":
      return reply.type === "offsetForTimeResponse";
  }
}

// Alerts are the server's verdict on our certificate (with TLS 1.3 they arrive after connect).
const CLIENT_CERT_REFUSED = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)/;
const SERVER_CERT_UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;

/** A certificate verdict, which no retry can change (as opposed to a network failure). */
function certificateRefused(err: Error & { code?: string }): boolean {
  const code = err.code ?? "";
  return CLIENT_CERT_REFUSED.test(code) || SERVER_CERT_UNTRUSTED.test(code);
}

/** What to check after a TLS failure, from what node:tls reported. */
function tlsHint(err: Error & { code?: string }): string {
  const code = err.code ?? "";
  if (CLIENT_CERT_REFUSED.test(code)) return " (the server refused the client certificate: check --cert/--key)";
  if (SERVER_CERT_UNTRUSTED.test(code)) return " (the server certificate is not trusted: check --ca and the name it is issued for)";
  if (/WRONG_VERSION_NUMBER|ECONNRESET|PACKET_LENGTH_TOO_LONG/.test(code) || /disconnected before secure TLS connection/.test(err.message)) {
    return " (is [tls] enabled on the server? A plaintext port: connect without --tls)";
  }
  return "";
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
