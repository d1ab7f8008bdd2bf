import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ClientMessage } from "@lance/protocol";
import { SecurityError } from "./errors.js";

/** `[auth]` of lance.toml (cluster.md §6.2) with the semantics of docs/protocol.md §9 items 7–8. */
export interface AuthConfig {
  enabled: boolean;
  /** Tokens given inline. */
  tokens: string[];
  /** One token per line, `#` comments; re-read by `reload()` (SIGHUP). */
  tokenFile: string | null;
  /** Only writes need a token; reads are open. */
  writeOnly: boolean;
}

export const DEFAULT_AUTH: AuthConfig = { enabled: false, tokens: [], tokenFile: null, writeOnly: false };

/** The requests `write_only = true` still guards (docs/protocol.md §9 item 8). */
const WRITES: ReadonlySet<ClientMessage["type"]> = new Set(["ingest", "createTopic", "createTopicWithRetention", "deleteTopic", "setRetention", "commitOffset"]);
/** Always open: a client must be able to authenticate and to keep its connection alive. */
const ALWAYS_OPEN: ReadonlySet<ClientMessage["type"]> = new Set(["authenticate", "keepalive"]);

/** What a connection proved: the digest of the token it presented, while that token is valid. */
export interface AuthSession {
  readonly peer: string;
  tokenDigest: string | null;
}

export type AuthOutcome = { ok: true } | { ok: false; reason: "no_token" | "bad_encoding" | "invalid_token" };

const digest = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

/**
 * Token checks. Tokens are kept only as SHA-256 digests; a presented token is hashed and
 * compared against every digest with timingSafeEqual (equal-length inputs, no early exit), so
 * neither the length nor a matching prefix of a configured token shows in the response time.
 */
export class TokenAuth {
  private digests: Buffer[] = [];
  private valid = new Set<string>();

  constructor(private readonly cfg: AuthConfig) {
    if (cfg.enabled) this.reload();
  }

  get enabled(): boolean {
    return this.cfg.enabled;
  }

  get tokenCount(): number {
    return this.digests.length;
  }

  /**
   * Re-reads `token_file` (inline tokens stay). Throws and keeps the current tokens when the
   * file cannot be read or no token would remain. Connections authenticated with a token that
   * is gone are refused from their next command on.
   */
  reload(): number {
    if (!this.cfg.enabled) return 0;
    const tokens = [...this.cfg.tokens, ...(this.cfg.tokenFile ? readTokenFile(this.cfg.tokenFile) : [])].filter((t) => t.length > 0);
    if (tokens.length === 0) {
      throw new SecurityError(
        "LNC_AUTH_NO_TOKENS",
        `[auth] enabled = true but no token is configured (tokens is empty${this.cfg.tokenFile ? ` and ${this.cfg.tokenFile} has no token lines` : " and token_file is not set"}); add a token or set enabled = false`,
      );
    }
    this.digests = [...new Set(tokens)].map(digest);
    this.valid = new Set(this.digests.map((d) => d.toString("hex")));
    return this.digests.length;
  }

  /** Checks a presented Authenticate payload and records the result on the session. */
  authenticate(session: AuthSession, raw: Uint8Array, token: string | null): AuthOutcome {
    if (raw.byteLength === 0) return { ok: false, reason: "no_token" };
    if (token === null) return { ok: false, reason: "bad_encoding" };
    if (!this.cfg.enabled) return { ok: true };
    const presented = digest(token);
    let match = false;
    for (const d of this.digests) match = timingSafeEqual(d, presented) || match;
    if (!match) return { ok: false, reason: "invalid_token" };
    session.tokenDigest = presented.toString("hex");
    return { ok: true };
  }

  /** Whether `session` may run `request` now. */
  permits(session: AuthSession, request: ClientMessage["type"]): boolean {
    if (!this.cfg.enabled || ALWAYS_OPEN.has(request)) return true;
    if (this.cfg.writeOnly && !WRITES.has(request)) return true;
    return session.tokenDigest !== null && this.valid.has(session.tokenDigest);
  }
}

/** One token per line; blank lines and `#` comments skipped; surrounding whitespace trimmed. */
export function readTokenFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SecurityError("LNC_AUTH_TOKEN_FILE", `cannot read [auth] token_file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"));
}
