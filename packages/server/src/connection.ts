import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { FrameDecoder, HEADER_SIZE, MAX_FETCH_RESPONSE_DATA, decodeMessage, encodeMessage, isClientMessage, isProtocolError, ErrorText, type Frame } from "@lance/protocol";
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
  /** Reply bytes outstanding (socket buffer + what in-flight fetches may return) before the socket is not read. */
  maxSendBufferBytes: number;
  /** Over maxSendBufferBytes for this long: close. */
  sendStallTimeoutMs: number;
}

const NO_BYTES = new Uint8Array(0);
/** Fetch data is at most this plus the 44-byte header and the 12-byte fetch response head. */
const FETCH_REPLY_OVERHEAD = HEADER_SIZE + 16;

/**
 * One client connection: decodes frames as they arrive, hands each request to the broker, and
 * writes the replies strictly in request order. When too many requests are in flight the
 * socket is paused (TCP pushes back on the client), by count and by request bytes, and so it is
 * when the replies the client has not read yet (the socket's send buffer, plus what its in-flight
 * fetches may return) reach max_send_buffer_bytes; a connection stuck there for the send stall
 * timeout (a reader that never reads) is closed. Frames are taken from the decoder one at a time
 * and reading stops at the frame that reaches a limit, so a chunk full of pipelined fetches cannot
 * overshoot it. A malformed
 * frame gets an error reply and the connection is closed; nothing of it reaches the write path.
 * A connection that sends no complete frame within the first-frame timeout (slowloris), or no
 * request for the idle timeout, is closed: the server never sends unsolicited frames, so
 * there is nothing to tell it first.
 */
export class Connection {
  private readonly decoder: FrameDecoder;
  private readonly session: AuthSession;
  private readonly replies: Array<{ reply: Promise<Reply>; requestBytes: number; replyReserve: number }> = [];
  private inFlightBytes = 0;
  /** The most the unwritten replies of in-flight fetches may add to the send buffer. */
  private replyReserve = 0;
  private stallTimer: NodeJS.Timeout | undefined;
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
    socket.on("drain", () => this.maybeResume());
    socket.on("end", () => this.closeGracefully());
    socket.on("error", (err) => this.log.debug({ peer: this.peer, err: err.message }, "client socket error"));
    socket.on("close", () => {
      this.closed = true;
      clearTimeout(this.timer);
      clearTimeout(this.stallTimer);
      this.onClose(this);
    });
  }

  get peer(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get inFlight(): number {
    return this.replies.length;
  }

  /** Reply bytes the client has not taken yet: the socket's send buffer plus the in-flight fetches' reserve. */
  get outboundBytes(): number {
    return this.socket.writableLength + this.replyReserve;
  }

  /** Which limit stops this connection from being read now, if any. */
  private readLimit(): "in_flight" | "send_buffer" | null {
    if (this.replies.length >= this.opts.maxInFlight || this.inFlightBytes >= this.opts.maxInFlightBytes) return "in_flight";
    // At least one request is always taken while the socket buffer is under the limit, so a
    // limit below one largest fetch reply slows a client down but never stops it.
    if (this.socket.writableLength >= this.opts.maxSendBufferBytes) return "send_buffer";
    if (this.replies.length > 0 && this.outboundBytes >= this.opts.maxSendBufferBytes) return "send_buffer";
    return null;
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
    this.takeFrames(this.decoder.push(chunk));
  }

  /** Handles decoded frames until they run out or a limit is reached (the rest stay in the decoder). */
  private takeFrames(frames: Generator<Frame, void, undefined>): void {
    const framesBefore = this.framesSeen;
    let limit: "in_flight" | "send_buffer" | null = null;
    try {
      for (const frame of frames) {
        this.framesSeen++;
        const requestBytes = HEADER_SIZE + frame.payload.byteLength;
        let reply: Promise<Reply>;
        let replyReserve = 0;
        try {
          const msg = decodeMessage(frame);
          if (msg.type === "fetch") replyReserve = Math.min(msg.maxBytes, MAX_FETCH_RESPONSE_DATA) + FETCH_REPLY_OVERHEAD;
          reply = isClientMessage(msg) ? this.broker.handle(msg, this.session) : Promise.resolve(encodeMessage({ type: "errorResponse", message: ErrorText.InvalidClientCommand }));
        } catch (err) {
          if (!isProtocolError(err)) throw err;
          reply = Promise.resolve(encodeMessage({ type: "errorResponse", message: err.replyText }));
        }
        this.replies.push({ reply, requestBytes, replyReserve });
        this.inFlightBytes += requestBytes;
        this.replyReserve += replyReserve;
        void reply.then(() => this.pump());
        limit = this.readLimit();
        if (limit) break;
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
    if (limit && !this.paused) this.pauseReading(limit);
  }

  private pauseReading(limit: "in_flight" | "send_buffer"): void {
    if (limit === "in_flight" && this.inFlightBytes >= this.opts.maxInFlightBytes) this.metrics.limitEvents.inc({ limit: "in_flight_bytes" });
    if (limit === "send_buffer") {
      this.metrics.limitEvents.inc({ limit: "send_buffer_paused" });
      this.armStallTimer();
    }
    this.paused = true;
    this.socket.pause();
  }

  /** Closes the connection if its replies are still not taken after send_stall_timeout_ms. */
  private armStallTimer(): void {
    clearTimeout(this.stallTimer);
    const ms = this.opts.sendStallTimeoutMs;
    this.stallTimer = setTimeout(() => {
      if (this.closed) return;
      if (this.readLimit() !== "send_buffer") {
        // Under the limit but not yet drained enough to read again: look again later.
        if (this.paused && this.socket.writableLength > 0) this.armStallTimer();
        return;
      }
      this.metrics.limitEvents.inc({ limit: "send_buffer" });
      this.log.warn(
        { peer: this.peer, code: "LNC_LIMIT_SEND_BUFFER", bufferedBytes: this.socket.writableLength, outboundBytes: this.outboundBytes },
        `closing connection: its replies (${this.outboundBytes} bytes) stayed over max_send_buffer_bytes (${this.opts.maxSendBufferBytes}) for ${ms} ms; the client does not read (send_stall_timeout_ms)`,
      );
      this.socket.destroy();
    }, ms);
    this.stallTimer.unref();
  }

  /** Reads again once in-flight requests and outstanding replies are well under their limits. */
  private maybeResume(): void {
    if (!this.paused || this.closed || this.ending) return;
    const inFlightLow = this.replies.length < this.opts.maxInFlight / 2 && this.inFlightBytes < this.opts.maxInFlightBytes / 2;
    const sendLow = this.socket.writableLength <= this.opts.maxSendBufferBytes / 2 && (this.replies.length === 0 || this.outboundBytes < this.opts.maxSendBufferBytes);
    if (!inFlightLow || !sendLow) return;
    this.paused = false;
    clearTimeout(this.stallTimer);
    // Frames already received come first; they may hit a limit again before the socket is read.
    this.takeFrames(this.decoder.push(NO_BYTES));
    if (!this.paused && !this.ending) this.socket.resume();
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
        this.replyReserve -= head.replyReserve;
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
    if (!this.paused && !this.closed && this.readLimit() === "send_buffer") this.pauseReading("send_buffer");
    else this.maybeResume();
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
    this.replies.push({ reply: Promise.resolve(last), requestBytes: 0, replyReserve: 0 });
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
