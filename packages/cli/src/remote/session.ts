import { Admin, LanceClient, type ClientTlsOptions, type TopicInfo } from "@lance/client";

export const DEFAULT_SERVER = "127.0.0.1:1992";

/** How a remote command reaches a secured server (lnc `--token`, `--tls --ca --cert --key`). */
export interface RemoteSecurity {
  /** Sent in an Authenticate frame on every connection. */
  token?: string;
  /** Connect with TLS (PEM contents). */
  tls?: ClientTlsOptions;
}

export interface RemoteOptions extends RemoteSecurity {
  /** `host:port`; default 127.0.0.1:1992. */
  server?: string;
}

/** The security options of `o` without undefined members (exactOptionalPropertyTypes). */
export function securityOf(o: RemoteSecurity): RemoteSecurity {
  return { ...(o.token !== undefined ? { token: o.token } : {}), ...(o.tls !== undefined ? { tls: o.tls } : {}) };
}

/** A client tuned for a command line: a few quick retries, then a clear error. */
export function cliClient(server: string | undefined, security: RemoteSecurity = {}): LanceClient {
  return new LanceClient({
    ...securityOf(security),
    server: server ?? DEFAULT_SERVER,
    connectTimeoutMs: 5_000,
    requestTimeoutMs: 30_000,
    retry: { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 1_000 },
  });
}

/** Runs `body` with a client and an Admin, closing the client afterwards. */
export async function withClient<T>(target: string | undefined | RemoteOptions, body: (client: LanceClient, admin: Admin) => Promise<T>): Promise<T> {
  const opts = typeof target === "object" ? target : { server: target };
  const client = cliClient(opts.server, opts);
  try {
    return await body(client, new Admin(client));
  } finally {
    client.close();
  }
}

/** The topic named `nameOrId` (a name first, then an id). */
export function resolveTopic(admin: Admin, nameOrId: string): Promise<TopicInfo> {
  return admin.resolveTopic(nameOrId);
}

/** u64 from a command-line string (retention values can exceed 2^53). */
export function parseU64(name: string, value: string): bigint {
  if (!/^\d+$/.test(value.trim())) throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  const v = BigInt(value.trim());
  if (v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${name} must fit in 64 bits, got ${value}`);
  return v;
}

/** A bigint as a JSON number when it is exact, else as a decimal string. */
export function jsonInteger(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}
