import type { Socket } from "node:net";
import { FrameDecoder, decodeMessage, encodeMessage, isClientMessage, isProtocolError, ErrorText } from "@lance/protocol";
import type { Broker, Reply } from "./broker.js";
import type { AuthSession } from "./auth.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/**
 * One client connection: decodes frames as they arrive, hands each request to the broker, and
 * writes the replies strictly in request order. When too many requests are in flight the
 * socket is paused (TCP pushes back on the client). A malformed frame gets an error reply and
 * the connection is closed; nothing of it reaches the write path.
 */
export class Connection {
  private readonly decoder: FrameDecoder;
  private readonly session: AuthSession;
  private readonly replies: Array<Promise<Reply>> = [];
  private writing = false;
  private closed = false;
  private paused = false;
  /** No more requests will be read; close once the queued replies are out. */
  private ending = false;

  constructor(
    private readonly socket: Socket,
    private readonly broker: Broker,
    private readonly opts: { maxPayloadSize: number; maxInFlight: number },
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.decoder = new FrameDecoder({ maxPayloadLength: opts.maxPayloadSize });
    this.session = { peer: this.peer, tokenDigest: null };
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("end", () => this.closeGracefully());
    socket.on("error", (err) => this.log.debug({ peer: this.peer, err: err.message }, "client socket error"));
    socket.on("close", () => {
      this.closed = true;
      this.onClose(this);
    });
  }

  get peer(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get inFlight(): number {
    return this.replies.length;
  }

  private onData(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) {
        let reply: Promise<Reply>;
        try {
          const msg = decodeMessage(frame);
          reply = isClientMessage(msg) ? this.broker.handle(msg, this.session) : Promise.resolve(encodeMessage({ type: "errorResponse", message: ErrorText.InvalidClientCommand }));
        } catch (err) {
          if (!isProtocolError(err)) throw err;
          reply = Promise.resolve(encodeMessage({ type: "errorResponse", message: err.replyText }));
        }
        this.replies.push(reply);
        void reply.then(() => this.pump());
      }
    } catch (err) {
      if (!isProtocolError(err)) throw err;
      this.metrics.errors.inc({ type: "protocol" });
      this.log.warn({ peer: this.peer, code: err.code }, `closing connection: ${err.message}`);
      this.fatal(encodeMessage({ type: "errorResponse", message: err.replyText }));
      return;
    }
    if (!this.paused && this.replies.length >= this.opts.maxInFlight) {
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
        const reply = await this.replies[0]!;
        this.replies.shift();
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
    if (this.paused && this.replies.length < this.opts.maxInFlight / 2) {
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
    this.replies.push(Promise.resolve(last));
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
