import { connect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions as TlsOptions } from "node:tls";
import { FrameDecoder, decodeMessage, encodeMessage, type ClientMessage, type LwpMessage } from "@lance/protocol";
import pino from "pino";

/** A bare LWP client for tests: send requests (pipelined), receive replies in order. */
export class RawClient {
  private readonly decoder = new FrameDecoder();
  private readonly queue: LwpMessage[] = [];
  private waiters: Array<(m: LwpMessage) => void> = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk) => {
      for (const frame of this.decoder.push(chunk)) {
        const m = decodeMessage(frame);
        const w = this.waiters.shift();
        if (w) w(m);
        else this.queue.push(m);
      }
    });
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  /** Connects with TLS; rejects when the handshake fails on the client side. */
  static connectTls(port: number, options: TlsOptions): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host: "127.0.0.1", ...options }, () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  send(msg: ClientMessage): void {
    this.socket.write(encodeMessage(msg));
  }

  next(timeoutMs = 5000): Promise<LwpMessage> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no reply within timeout")), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  async request(msg: ClientMessage): Promise<LwpMessage> {
    this.send(msg);
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A logger that keeps every line, to prove what is (and is not) logged. */
export function capturingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) }) as never;
  return { logger, lines };
}
