import net from "node:net";
import tls from "node:tls";
import { LanceError } from "@lance/segment-format";
import { DEFAULT_MAX_PEER_FRAME_BYTES, encodePeerFrame, PEER_FRAME_HEADER_BYTES, PeerFrameDecoder } from "./peer-frame.js";

/**
 * Node-to-node transport. Every node dials every peer and sends only over its own outbound
 * connection; inbound connections deliver messages. Raft tolerates loss, so a message for a
 * peer that is down, or whose socket buffer is over `maxQueueBytes`, is dropped, never queued.
 *
 * Frames (peer-frame.ts), after the dialer's `{t:"hello"}` and the acceptor's hello reply:
 * `{t:"m", m}` messages, and `{t:"ping"}` from the dialer answered by `{t:"pong"}`, so a
 * silent (partitioned) outbound connection is noticed and redialed.
 */
export interface PeerAddress {
  id: number;
  host: string;
  port: number;
}

export interface TransportLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface TransportTls {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
}

export interface TransportOptions {
  nodeId: number;
  /** Port 0 picks a free port. */
  listen: { host: string; port: number };
  /** Every other node of the cluster (not this one). */
  peers: PeerAddress[];
  /** Sent in the handshake; the lead puts the node's client address here. */
  info: Record<string, unknown>;
  onMessage: (from: number, msg: unknown) => void;
  onPeerInfo?: (id: number, info: Record<string, unknown>) => void;
  /** Outbound connection state changes. */
  onPeerConnected?: (id: number, connected: boolean) => void;
  /** Per peer; default 64 MiB. */
  maxQueueBytes?: number;
  /** Default 64 MiB. */
  maxFrameBytes?: number;
  /** Mutual TLS between nodes: one certificate for both roles (EKU serverAuth + clientAuth). */
  tls?: TransportTls | null;
  logger?: TransportLogger;
  /** Hello exchange deadline per connection; default 5 s. */
  handshakeTimeoutMs?: number;
  /** Ping period on outbound connections; default 1 s. */
  heartbeatIntervalMs?: number;
  /** An outbound connection with nothing received for this long is closed; default 5 s. */
  heartbeatTimeoutMs?: number;
}

export interface TransportStats {
  sent: number;
  dropped: number;
  received: number;
  badFrames: number;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;
const KEEPALIVE_DELAY_MS = 10_000;
/** Errors of a peer that is down or restarting: logged at debug. */
const QUIET_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);

const noopLogger: TransportLogger = { info() {}, warn() {}, debug() {} };
const PING = encodePeerFrame({ t: "ping" });
const PONG = encodePeerFrame({ t: "pong" });

type Frame = { t: "hello"; nodeId: number; info: Record<string, unknown> } | { t: "m"; m: unknown } | { t: "ping" } | { t: "pong" };

function asFrame(v: unknown): Frame | null {
  if (typeof v !== "object" || v === null) return null;
  const f = v as Record<string, unknown>;
  switch (f.t) {
    case "hello":
      return Number.isInteger(f.nodeId) && typeof f.info === "object" && f.info !== null && !Array.isArray(f.info) ? (f as Frame) : null;
    case "m":
      return "m" in f ? (f as Frame) : null;
    case "ping":
    case "pong":
      return f as Frame;
    default:
      return null;
  }
}

function errCode(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message ?? String(err);
}

function remoteOf(s: net.Socket): string {
  return `${s.remoteAddress ?? "?"}:${s.remotePort ?? "?"}`;
}

interface Outbound {
  peer: PeerAddress;
  socket: net.Socket | null;
  connected: boolean;
  backoffMs: number;
  timer: NodeJS.Timeout | null;
  heartbeat: NodeJS.Timeout | null;
  lastRx: number;
  corked: boolean;
  /** Last error code logged at warn, so a persistent misconfiguration warns once. */
  lastWarn: string | null;
}

export class Transport {
  private opts: TransportOptions;
  private readonly log: TransportLogger;
  private readonly maxQueueBytes: number;
  private readonly maxFrameBytes: number;
  private readonly handshakeTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly peerIds: Set<number>;
  private readonly outbound = new Map<number, Outbound>();
  private readonly inbound = new Map<net.Socket, number | null>();
  private readonly infos = new Map<number, Record<string, unknown>>();
  private readonly counters: TransportStats = { sent: 0, dropped: 0, received: 0, badFrames: 0 };
  private readonly rawSockets = new Set<net.Socket>();
  private readonly hello: Buffer;
  private server: net.Server | null = null;
  private stopped = false;

  constructor(opts: TransportOptions) {
    this.opts = opts;
    this.log = opts.logger ?? noopLogger;
    this.maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_PEER_FRAME_BYTES;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 1000;
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 5000;
    this.peerIds = new Set(opts.peers.map((p) => p.id));
    if (this.peerIds.has(opts.nodeId)) throw new LanceError("LNC_BAD_ARGUMENT", `transport peers include this node's own id ${opts.nodeId}`);
    if (this.peerIds.size !== opts.peers.length) throw new LanceError("LNC_BAD_ARGUMENT", "transport peers have duplicate ids");
    this.hello = encodePeerFrame({ t: "hello", nodeId: opts.nodeId, info: opts.info });
  }

  async start(): Promise<void> {
    if (this.server) throw new LanceError("LNC_BAD_ARGUMENT", "transport already started");
    const t = this.opts.tls;
    const server = t
      ? tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: true, rejectUnauthorized: true, handshakeTimeout: this.handshakeTimeoutMs }, (s) => this.accept(s))
      : net.createServer((s) => this.accept(s));
    // The raw TCP sockets, TLS handshakes in progress included, so stop() can end them all.
    server.on("connection", (s: net.Socket) => {
      this.rawSockets.add(s);
      s.once("close", () => this.rawSockets.delete(s));
    });
    server.on("tlsClientError", (err: Error, s: tls.TLSSocket) => {
      this.log.warn({ remote: remoteOf(s), err: errCode(err) }, "peer TLS handshake refused");
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => this.log.warn({ err: errCode(err) }, "peer listener error"));
    for (const peer of this.opts.peers) {
      const o: Outbound = { peer, socket: null, connected: false, backoffMs: MIN_BACKOFF_MS, timer: null, heartbeat: null, lastRx: 0, corked: false, lastWarn: null };
      this.outbound.set(peer.id, o);
      this.dial(o);
    }
  }

  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === "string") throw new LanceError("LNC_CLOSED", "transport is not listening");
    return { host: a.address, port: a.port };
  }

  /** Queues `msg` for peer `to`; false when dropped. Never throws, never blocks. */
  send(to: number, msg: unknown): boolean {
    const o = this.outbound.get(to);
    const s = o?.socket;
    if (!o || !o.connected || !s || s.destroyed) return this.drop();
    let frame: Buffer;
    try {
      frame = encodePeerFrame({ t: "m", m: msg });
    } catch (err) {
      this.log.warn({ peer: to, err: (err as Error).message }, "peer message not encodable, dropped");
      return this.drop();
    }
    if (frame.length - PEER_FRAME_HEADER_BYTES > this.maxFrameBytes) {
      this.log.warn({ peer: to, bytes: frame.length, maxFrameBytes: this.maxFrameBytes }, "peer message over the frame limit, dropped");
      return this.drop();
    }
    // Bounded by maxQueueBytes plus one frame; an empty buffer always takes one frame.
    if (s.writableLength > 0 && s.writableLength + frame.length > this.maxQueueBytes) return this.drop();
    if (!o.corked) {
      // Frames sent in the same tick leave in one write.
      o.corked = true;
      s.cork();
      process.nextTick(() => {
        o.corked = false;
        s.uncork();
      });
    }
    s.write(frame);
    this.counters.sent++;
    return true;
  }

  isConnected(id: number): boolean {
    return this.outbound.get(id)?.connected ?? false;
  }

  peerInfo(id: number): Record<string, unknown> | undefined {
    return this.infos.get(id);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const o of this.outbound.values()) {
      if (o.timer) clearTimeout(o.timer);
      if (o.heartbeat) clearInterval(o.heartbeat);
      o.timer = o.heartbeat = null;
      o.connected = false;
      o.socket?.destroy();
    }
    for (const s of this.inbound.keys()) s.destroy();
    for (const s of this.rawSockets) s.destroy();
    this.inbound.clear();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private drop(): false {
    this.counters.dropped++;
    return false;
  }

  /**
   * New certificate, key and CA (SIGHUP): handshakes from now on use them, in both directions;
   * established connections keep their session. Only for a transport started with TLS.
   */
  setTls(t: TransportTls): void {
    if (!this.opts.tls) throw new LanceError("LNC_BAD_ARGUMENT", "this transport runs without TLS; TLS cannot be turned on by a reload");
    this.opts = { ...this.opts, tls: t };
    if (this.server instanceof tls.Server) this.server.setSecureContext({ cert: t.cert, key: t.key, ca: t.ca });
  }

  // ---- outbound ----

  private dial(o: Outbound): void {
    if (this.stopped) return;
    o.timer = null;
    const { id, host, port } = o.peer;
    const t = this.opts.tls;
    const socket = t
      ? tls.connect({ host, port, cert: t.cert, key: t.key, ca: t.ca, checkServerIdentity: () => undefined })
      : net.connect({ host, port });
    o.socket = socket;
    o.lastRx = Date.now();
    const decoder = new PeerFrameDecoder(this.maxFrameBytes);
    let handshaken = false;
    let tcpUp = false;
    const handshakeTimer = setTimeout(() => {
      this.warnOnce(o, "ETIMEDOUT_HELLO", { peer: id, addr: `${host}:${port}` }, "peer did not answer the hello in time");
      socket.destroy();
    }, this.handshakeTimeoutMs);

    socket.once("connect", () => {
      tcpUp = true;
    });
    socket.once(t ? "secureConnect" : "connect", () => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
      socket.write(this.hello);
    });
    socket.on("data", (chunk: Buffer) => {
      o.lastRx = Date.now();
      try {
        decoder.push(chunk, (v) => {
          const f = asFrame(v);
          if (!handshaken && f?.t === "hello") {
            if (f.nodeId !== id) throw new LanceError("LNC_PEER_PROTOCOL", `expected node ${id}, the address answered as node ${f.nodeId}`);
            handshaken = true;
            clearTimeout(handshakeTimer);
            this.setInfo(id, f.info);
            this.onOutboundUp(o, socket);
          } else if (!handshaken || f?.t !== "pong") {
            throw new LanceError("LNC_PEER_PROTOCOL", `unexpected frame ${f ? `t=${f.t}` : "(malformed)"}`);
          }
        });
      } catch (err) {
        this.counters.badFrames++;
        this.log.warn({ peer: id, addr: `${host}:${port}`, err: errCode(err), reason: (err as Error).message }, "bad frame from peer, closing connection");
        socket.destroy();
      }
    });
    socket.on("error", (err) => {
      const code = errCode(err);
      if (QUIET_ERRORS.has(code)) this.log.debug({ peer: id, addr: `${host}:${port}`, err: code }, "peer connection error");
      else this.warnOnce(o, code, { peer: id, addr: `${host}:${port}`, err: code, reason: err.message }, "peer connection error");
    });
    socket.on("close", () => {
      clearTimeout(handshakeTimer);
      if (o.socket !== socket) return;
      // e.g. a plaintext dialer at a TLS listener, or a TLS dialer refused by the peer's CA.
      if (tcpUp && !handshaken && !this.stopped) this.warnOnce(o, "CLOSED_IN_HANDSHAKE", { peer: id, addr: `${host}:${port}` }, "peer closed the connection before the hello reply (TLS or configuration mismatch?)");
      o.socket = null;
      o.corked = false;
      if (o.heartbeat) clearInterval(o.heartbeat);
      o.heartbeat = null;
      if (o.connected) {
        o.connected = false;
        if (!this.stopped) {
          this.log.info({ peer: id, addr: `${host}:${port}` }, "peer connection lost");
          this.opts.onPeerConnected?.(id, false);
        }
      }
      this.scheduleRedial(o);
    });
  }

  private onOutboundUp(o: Outbound, socket: net.Socket): void {
    o.connected = true;
    o.backoffMs = MIN_BACKOFF_MS;
    o.lastWarn = null;
    this.log.info({ peer: o.peer.id, addr: `${o.peer.host}:${o.peer.port}` }, "peer connected");
    let flushed = 0;
    o.heartbeat = setInterval(() => {
      // A backlog that drains is a slow peer, not a dead one (pongs wait behind it).
      const nowFlushed = socket.bytesWritten - socket.writableLength;
      if (socket.writableLength > 0 && nowFlushed > flushed) o.lastRx = Date.now();
      flushed = nowFlushed;
      if (Date.now() - o.lastRx > this.heartbeatTimeoutMs) {
        this.log.warn({ peer: o.peer.id, silentMs: Date.now() - o.lastRx }, "peer unresponsive, reconnecting");
        socket.destroy();
      } else if (socket.writableLength + PING.length <= this.maxQueueBytes) {
        socket.write(PING);
      }
    }, this.heartbeatIntervalMs);
    this.opts.onPeerConnected?.(o.peer.id, true);
  }

  private scheduleRedial(o: Outbound): void {
    if (this.stopped || o.timer) return;
    const delay = o.backoffMs / 2 + Math.random() * (o.backoffMs / 2);
    o.backoffMs = Math.min(o.backoffMs * 2, MAX_BACKOFF_MS);
    o.timer = setTimeout(() => this.dial(o), delay);
  }

  private warnOnce(o: Outbound, code: string, obj: object, msg: string): void {
    if (o.lastWarn === code) this.log.debug(obj, msg);
    else this.log.warn(obj, msg);
    o.lastWarn = code;
  }

  // ---- inbound ----

  private accept(socket: net.Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const remote = remoteOf(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this.inbound.set(socket, null);
    const decoder = new PeerFrameDecoder(this.maxFrameBytes);
    let from: number | null = null;
    const handshakeTimer = setTimeout(() => {
      this.log.warn({ remote }, "peer sent no hello in time, closing connection");
      socket.destroy();
    }, this.handshakeTimeoutMs);

    socket.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk, (v) => {
          if (socket.destroyed) return;
          const f = asFrame(v);
          if (from === null) {
            if (f?.t !== "hello") throw new LanceError("LNC_PEER_PROTOCOL", "first frame is not a hello");
            if (!this.peerIds.has(f.nodeId)) {
              this.log.warn({ remote, nodeId: f.nodeId }, "hello from a node id that is not a configured peer, closing connection");
              socket.destroy();
              return;
            }
            from = f.nodeId;
            clearTimeout(handshakeTimer);
            // The dialer pings; silence means a dead or partitioned peer.
            socket.setTimeout(this.heartbeatTimeoutMs, () => {
              this.log.debug({ peer: from, remote }, "peer inbound connection idle, closing");
              socket.destroy();
            });
            this.inbound.set(socket, from);
            this.setInfo(from, f.info);
            socket.write(this.hello);
            this.log.debug({ peer: from, remote }, "peer inbound connection");
          } else if (f?.t === "m") {
            this.counters.received++;
            try {
              this.opts.onMessage(from, f.m);
            } catch (err) {
              this.log.warn({ peer: from, err: (err as Error).message }, "peer message handler threw");
            }
          } else if (f?.t === "ping") {
            socket.write(PONG);
          } else {
            throw new LanceError("LNC_PEER_PROTOCOL", "unexpected frame after the hello");
          }
        });
      } catch (err) {
        this.counters.badFrames++;
        this.log.warn({ peer: from, remote, err: errCode(err), reason: (err as Error).message }, "bad frame from peer, closing connection");
        socket.destroy();
      }
    });
    socket.on("error", (err) => {
      const code = errCode(err);
      if (QUIET_ERRORS.has(code)) this.log.debug({ peer: from, remote, err: code }, "peer inbound connection error");
      else this.log.warn({ peer: from, remote, err: code, reason: err.message }, "peer inbound connection error");
    });
    socket.on("close", () => {
      clearTimeout(handshakeTimer);
      this.inbound.delete(socket);
    });
  }

  private setInfo(id: number, info: Record<string, unknown>): void {
    this.infos.set(id, info);
    if (!this.stopped) this.opts.onPeerInfo?.(id, info);
  }
}
