import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { FrameDecoder, HEADER_SIZE, decodeMessage, encodeMessage, isClientMessage, isProtocolError, ErrorText } from "@lance/protocol";
import type { Broker, Reply } from "./broker.js";
import type { AuthSession } from "./auth.js";
import type { LimitEvent } from "./limits.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import { peerCommonName } from "./tls.js";

export interface ConnectionLimits {
  maxPayloadSize: number;
  /** Requests read and not yet answered before the socket is paused. */
  maxInFlight: number;
  /** Request bytes read and not yet answered before the socket is paused. */
  maxInFlightBytes: number;
  firstFrameTimeoutMs: number;
  /** 0: no idle timeout. */
  idleTimeoutMs: number;
}

/**
 * One client connection: decodes frames as they arrive, hands each request to the broker, and
 * writes the replies strictly in request order. When too many requests are in flight the
 * socket is paused (TCP pushes back on the client), by count and by request bytes. A malformed
 * frame gets an error reply and the connection is closed; nothing of it reaches the write path.
 * A connection that sends no complete frame within the first-frame timeout (slowloris), or no
 * request for the idle timeout, is closed: the server never sends unsolicited frames, so
 * there is nothing to tell it first.
 */
export class Connection {
  private readonly decoder: FrameDecoder;
  private readonly session: AuthSession;
  private readonly replies: Array<{ reply: Promise<Reply>; requestBytes: number }> = [];
  private inFlightBytes = 0;
  private framesSeen = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private closed = false;
  private paused = false;
  /** No more requests will be read; close once the queued replies are out. */
  private ending = false;

  constructor(
    private readonly socket: Socket,
    private readonly broker: Broker,
    private readonly opts: ConnectionLimits,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.decoder = new FrameDecoder({ maxPayloadLength: opts.maxPayloadSize });
    // The CN counts for the ACL only from a certificate the handshake verified (mTLS).
    const clientCN = socket instanceof TLSSocket && socket.authorized ? (peerCommonName(socket) ?? null) : null;
    this.session = { peer: this.peer, tokenDigest: null, clientCN };
    socket.setNoDelay(true);
    this.armTimer();
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("end", () => this.closeGracefully());
    socket.on("error", (err) => this.log.debug({ peer: this.peer, err: err.message }, "client socket error"));
    socket.on("close", () => {
      this.closed = true;
      clearTimeout(this.timer);
      this.onClose(this);
    });
  }

  get peer(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get inFlight(): number {
    return this.replies.length;
  }

  /** Before the first frame: the first-frame timeout; afterwards: the idle timeout (0: none). */
  private armTimer(): void {
    clearTimeout(this.timer);
    const first = this.framesSeen === 0;
    const ms = first ? this.opts.firstFrameTimeoutMs : this.opts.idleTimeoutMs;
    if (ms <= 0) return;
    this.timer = setTimeout(() => {
      if (!first && this.replies.length > 0) return this.armTimer();
      const event: LimitEvent = first ? "first_frame_timeout" : "idle_timeout";
      this.metrics.limitEvents.inc({ limit: event });
      const msg = first ? `closing connection: no complete frame within ${ms} ms (first_frame_timeout)` : `closing idle connection: no request for ${ms} ms (idle_timeout)`;
      if (first) this.log.warn({ peer: this.peer, code: "LNC_LIMIT_FIRST_FRAME_TIMEOUT" }, msg);
      else this.log.info({ peer: this.peer, code: "LNC_LIMIT_IDLE_TIMEOUT" }, msg);
      this.socket.destroy();
    }, ms);
    this.timer.unref();
  }

  private onData(chunk: Buffer): void {
    const framesBefore = this.framesSeen;
    try {
      for (const frame of this.decoder.push(chunk)) {
        this.framesSeen++;
        const requestBytes = HEADER_SIZE + frame.payload.byteLength;
        let reply: Promise<Reply>;
        try {
          const msg = decodeMessage(frame);
          reply = isClientMessage(msg) ? this.broker.handle(msg, this.session) : Promise.resolve(encodeMessage({ type: "errorResponse", message: ErrorText.InvalidClientCommand }));
        } catch (err) {
          if (!isProtocolError(err)) throw err;
          reply = Promise.resolve(encodeMessage({ type: "errorResponse", message: err.replyText }));
        }
        this.replies.push({ reply, requestBytes });
        this.inFlightBytes += requestBytes;
        void reply.then(() => this.pump());
      }
      // Only complete frames count as activity: dribbling bytes does not keep a connection alive.
      if (this.framesSeen > framesBefore) this.armTimer();
    } catch (err) {
      if (!isProtocolError(err)) throw err;
      this.metrics.errors.inc({ type: "protocol" });
      this.log.warn({ peer: this.peer, code: err.code }, `closing connection: ${err.message}`);
      this.fatal(encodeMessage({ type: "errorResponse", message: err.replyText }));
      return;
    }
    if (!this.paused && (this.replies.length >= this.opts.maxInFlight || this.inFlightBytes >= this.opts.maxInFlightBytes)) {
      if (this.inFlightBytes >= this.opts.maxInFlightBytes) this.metrics.limitEvents.inc({ limit: "in_flight_bytes" });
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Writes every reply at the head of the queue that is ready, in order. */
  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.replies.length > 0) {
        const head = this.replies[0]!;
        const reply = await head.reply;
        this.replies.shift();
        this.inFlightBytes -= head.requestBytes;
        if (this.closed) continue;
        if (Array.isArray(reply)) {
          this.socket.cork();
          for (const part of reply) this.socket.write(part);
          this.socket.uncork();
        } else this.socket.write(reply);
      }
    } finally {
      this.writing = false;
    }
    if (this.paused && this.replies.length < this.opts.maxInFlight / 2 && this.inFlightBytes < this.opts.maxInFlightBytes / 2) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.ending && this.replies.length === 0) this.finish();
  }

  /** Sends what is buffered, then closes without waiting for the peer to close its side. */
  private finish(): void {
    this.socket.end(() => this.socket.destroy());
  }

  /** The client finished sending: answer what it asked, then close. */
  private closeGracefully(): void {
    this.ending = true;
    if (this.replies.length === 0 && !this.writing) this.finish();
  }

  /** Replies already queued are sent, then the error, then the socket closes. */
  private fatal(last: Uint8Array): void {
    this.socket.pause();
    this.socket.removeAllListeners("data");
    this.replies.push({ reply: Promise.resolve(last), requestBytes: 0 });
    this.ending = true;
    void this.pump();
  }

  /** Server shutdown: stop reading; close once every in-flight request has its reply. */
  drainAndClose(): void {
    this.socket.pause();
    this.closeGracefully();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
