import { DEFAULT_SERVER, formatAddress, parseAddress } from "./address.js";
import { backoffDelay, sleep, type BackoffOptions } from "./async-utils.js";
import { Connection, type ConnectionOptions } from "./connection.js";
import { ClientError, isClientError } from "./errors.js";

export interface RetryOptions extends BackoffOptions {
  /** Tries per operation, the first included. 1 = no retry. */
  maxAttempts: number;
}

export interface ClientOptions extends ConnectionOptions {
  /** `host:port`. Default `127.0.0.1:1992` (or the first of `servers`). */
  server?: string;
  /**
   * Bootstrap list (a cluster's nodes, `host:port` each): when the address in use cannot be
   * reached or cannot serve (connect failure or timeout, request timeout, NO_QUORUM,
   * FORWARD_FAILED, NOT_LEADER without a leader), the retry moves to the next one in turn.
   */
  servers?: string[];
  /** Default: 8 attempts, 100 ms doubling to 5 s (jittered). */
  retry?: Partial<RetryOptions>;
  /** Called before each retry (for logs and tests). */
  onRetry?: (info: { attempt: number; delayMs: number; error: ClientError }) => void;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5_000 };

/**
 * A server address plus one shared, lazily (re)opened Connection. `call` runs an operation on
 * it with retries: retryable errors are retried with exponential backoff; a
 * `NOT_LEADER: redirect to host:port` moves the client to that address and retries at once;
 * a lost connection is reopened. Producer, Consumer and Admin are built on it.
 */
export class LanceClient {
  private address: string;
  private readonly bootstrap: string[];
  private bootstrapIndex = 0;
  private readonly connectionOptions: ConnectionOptions;
  private readonly retry: RetryOptions;
  private readonly onRetry: ClientOptions["onRetry"];
  private current: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  private readonly abort = new AbortController();

  constructor(options: ClientOptions = {}) {
    this.bootstrap = (options.servers ?? []).map((a) => formatAddress(parseAddress(a)));
    this.address = formatAddress(parseAddress(options.server ?? this.bootstrap[0] ?? DEFAULT_SERVER));
    this.bootstrapIndex = Math.max(0, this.bootstrap.indexOf(this.address));
    const { server: _server, servers: _servers, retry, onRetry, ...connectionOptions } = options;
    this.connectionOptions = connectionOptions;
    this.retry = { ...DEFAULT_RETRY, ...Object.fromEntries(Object.entries(retry ?? {}).filter(([, v]) => v !== undefined)) };
    this.onRetry = onRetry;
  }

  /** The address in use: the configured one, or the leader a redirect named. */
  get server(): string {
    return this.address;
  }

  get closed(): boolean {
    return this.abort.signal.aborted;
  }

  /** The shared connection, opened if needed. */
  connection(): Promise<Connection> {
    if (this.closed) return Promise.reject(new ClientError("LNC_CLIENT_CLOSED", "client is closed"));
    if (this.current?.usable) return Promise.resolve(this.current);
    if (!this.connecting) {
      const address = this.address;
      this.connecting = Connection.connect(address, this.connectionOptions).then(
        (conn) => {
          this.connecting = null;
          if (this.closed || address !== this.address) {
            conn.close();
            return this.connection();
          }
          this.current = conn;
          return conn;
        },
        (err: unknown) => {
          this.connecting = null;
          throw err;
        },
      );
    }
    return this.connecting;
  }

  /**
   * Runs `op` on the shared connection, retrying retryable failures. The error of the last
   * attempt is thrown. Note what a retry means for a write: if the first attempt reached the
   * server and only its reply was lost, the write happens twice (at-least-once).
   */
  async call<T>(op: (conn: Connection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let conn: Connection | null = null;
      try {
        conn = await this.connection();
        return await op(conn);
      } catch (err) {
        if (!isClientError(err) || !err.retryable || this.closed || attempt >= this.retry.maxAttempts) throw err;
        if (err.code === "LNC_CLIENT_NOT_LEADER" && err.leader !== undefined && this.redirect(err.leader)) {
          this.onRetry?.({ attempt, delayMs: 0, error: err });
          continue;
        }
        if (err.connectionLost && conn !== null && conn === this.current) this.current = null;
        if (this.bootstrap.length > 1 && movesOn(err)) {
          this.bootstrapIndex = (this.bootstrapIndex + 1) % this.bootstrap.length;
          this.moveTo(this.bootstrap[this.bootstrapIndex]!);
        }
        const delayMs = backoffDelay(attempt, this.retry);
        this.onRetry?.({ attempt, delayMs, error: err });
        await sleep(delayMs, this.abort.signal);
      }
    }
  }

  /** Closes the connection; later calls fail with LNC_CLIENT_CLOSED. */
  close(): void {
    this.abort.abort();
    this.current?.close();
    this.current = null;
  }

  /** Moves to `leader`; false when it is not a usable address or is where we already are. */
  private redirect(leader: string): boolean {
    let next: string;
    try {
      next = formatAddress(parseAddress(leader));
    } catch {
      return false;
    }
    if (next === this.address) return false;
    this.moveTo(next);
    return true;
  }

  private moveTo(next: string): void {
    if (next === this.address) return;
    this.address = next;
    // Requests already written there still get their replies; new ones go to the new address.
    this.current?.retire();
    this.current = null;
  }
}

/** Errors after which a client with a bootstrap list tries the next address. */
function movesOn(err: ClientError): boolean {
  switch (err.code) {
    case "LNC_CLIENT_CONNECT_FAILED":
    case "LNC_CLIENT_CONNECT_TIMEOUT":
    case "LNC_CLIENT_REQUEST_TIMEOUT":
    case "LNC_CLIENT_NO_QUORUM":
    case "LNC_CLIENT_FORWARD_FAILED":
      return true;
    case "LNC_CLIENT_NOT_LEADER":
      return err.leader === undefined;
    default:
      return false;
  }
}
