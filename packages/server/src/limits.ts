import { SecurityError } from "./errors.js";

/** `[limits]` of lance.toml (a LANCE-TS table): what one client may hold of the server. */
export interface LimitsConfig {
  /** Open client connections, all addresses together (TLS handshakes included). */
  maxConnections: number;
  /** Open client connections from one IP address. */
  maxConnectionsPerAddress: number;
  /** A connection must complete its TLS handshake, then its first frame, within this. */
  firstFrameTimeoutMs: number;
  /** A connection with no request for this long (and none unanswered) is closed; 0: never. */
  idleTimeoutMs: number;
  /** Request bytes (header + payload) read and not yet answered; above it the socket is not read. */
  maxInFlightBytesPerConnection: number;
  /**
   * Reply bytes a connection may have outstanding: written to its socket and not yet taken by
   * the client, plus the most the fetches it has in flight may return. Above it the socket is not
   * read (no new requests) until the client reads its replies.
   */
  maxSendBufferBytes: number;
  /** A connection that stays over max_send_buffer_bytes this long (a reader that never reads) is closed. */
  sendStallTimeoutMs: number;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 64,
  firstFrameTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  maxInFlightBytesPerConnection: 64 * 1024 * 1024,
  maxSendBufferBytes: 64 * 1024 * 1024,
  sendStallTimeoutMs: 30_000,
};

/** The `limit` label of `lance_limit_events_total`. */
export type LimitEvent =
  | "max_connections"
  | "max_connections_per_address"
  | "first_frame_timeout"
  | "idle_timeout"
  | "in_flight_bytes"
  /** A connection closed because its replies were not read within send_stall_timeout_ms. */
  | "send_buffer"
  /** A connection not read from because its outstanding replies reached max_send_buffer_bytes. */
  | "send_buffer_paused";

/** Why `limits` is unusable with frames of up to `maxFrameBytes`, or null. */
export function limitsProblem(limits: LimitsConfig, maxFrameBytes: number): string | null {
  const positive: Array<[string, number]> = [
    ["limits.max_connections", limits.maxConnections],
    ["limits.max_connections_per_address", limits.maxConnectionsPerAddress],
    ["limits.first_frame_timeout_ms", limits.firstFrameTimeoutMs],
    ["limits.max_send_buffer_bytes", limits.maxSendBufferBytes],
    ["limits.send_stall_timeout_ms", limits.sendStallTimeoutMs],
  ];
  for (const [name, v] of positive) if (!Number.isSafeInteger(v) || v < 1) return `${name} must be a positive integer, got ${v}`;
  if (!Number.isSafeInteger(limits.idleTimeoutMs) || limits.idleTimeoutMs < 0) return `limits.idle_timeout_secs must be 0 (never) or positive, got ${limits.idleTimeoutMs / 1000}`;
  if (!Number.isSafeInteger(limits.maxInFlightBytesPerConnection) || limits.maxInFlightBytesPerConnection < maxFrameBytes) {
    return `limits.max_in_flight_bytes_per_connection (${limits.maxInFlightBytesPerConnection}) must hold at least one largest frame (${maxFrameBytes} bytes: max_payload_size + header)`;
  }
  return null;
}

export function checkLimits(limits: LimitsConfig, maxFrameBytes: number): void {
  const problem = limitsProblem(limits, maxFrameBytes);
  if (problem) throw new SecurityError("LNC_LIMIT_CONFIG", problem);
}

/** Counts open connections per IP address and admits new ones within the limits. */
export class ConnectionLimiter {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: Pick<LimitsConfig, "maxConnections" | "maxConnectionsPerAddress">) {}

  /** Takes a slot for `address`, or says which limit refuses it. */
  admit(address: string): LimitEvent | null {
    const mine = this.byAddress.get(address) ?? 0;
    if (this.total >= this.limits.maxConnections) return "max_connections";
    if (mine >= this.limits.maxConnectionsPerAddress) return "max_connections_per_address";
    this.total++;
    this.byAddress.set(address, mine + 1);
    return null;
  }

  release(address: string): void {
    const mine = this.byAddress.get(address) ?? 0;
    if (mine <= 1) this.byAddress.delete(address);
    else this.byAddress.set(address, mine - 1);
    this.total = Math.max(0, this.total - 1);
  }

  /** The reply a refused client reads before the connection closes. */
  static refusalText(event: LimitEvent, address: string, limits: Pick<LimitsConfig, "maxConnections" | "maxConnectionsPerAddress">): string {
    return event === "max_connections"
      ? `LIMIT: too many connections (max_connections = ${limits.maxConnections}); try again later`
      : `LIMIT: too many connections from ${address} (max_connections_per_address = ${limits.maxConnectionsPerAddress}); try again later`;
  }
}
