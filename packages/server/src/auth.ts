import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ClientMessage } from "@lance/protocol";
import { AccessControl, tokenNameProblem, type AclRule, type Principal } from "./access.js";
import { SecurityError } from "./errors.js";

/** A token with a name: the name is what ACL rules (`principal = "token:<name>"`) and logs use. */
export interface NamedToken {
  name: string;
  token: string;
}

/** `[auth]` of lance.toml (cluster.md §6.2) with the semantics of docs/protocol.md §9 items 7–8. */
export interface AuthConfig {
  enabled: boolean;
  /**
   * Tokens given inline: a string is an unnamed token (full access, ACL or not); `{ name, token }`
   * a named one, which an ACL can restrict (`[auth.named_tokens] name = "token"` in lance.toml).
   */
  tokens: Array<string | NamedToken>;
  /** One token per line (`name = token` for a named one), `#` comments; re-read by `reload()` (SIGHUP). */
  tokenFile: string | null;
  /** Only writes need a token; reads are open (to the extent the ACL's `*` rules allow, with an ACL). */
  writeOnly: boolean;
  /** Per-topic access (`[[auth.acl]]`); empty: every authenticated connection may do everything. */
  acl: AclRule[];
  /**
   * Re-reads the reloadable `[auth]` settings (tokens, token_file, acl) from where they came
   * from, on `reload()` (SIGHUP); null: only token_file is re-read. `enabled` and `write_only`
   * are fixed at start.
   */
  reread: (() => Partial<Pick<AuthConfig, "tokens" | "tokenFile" | "acl">>) | null;
}

export const DEFAULT_AUTH: AuthConfig = { enabled: false, tokens: [], tokenFile: null, writeOnly: false, acl: [], reread: null };

/** The requests `write_only = true` still guards (docs/protocol.md §9 item 8). */
const WRITES: ReadonlySet<ClientMessage["type"]> = new Set(["ingest", "createTopic", "createTopicWithRetention", "deleteTopic", "setRetention", "commitOffset"]);
/** Always open: a client must be able to authenticate and to keep its connection alive. */
const ALWAYS_OPEN: ReadonlySet<ClientMessage["type"]> = new Set(["authenticate", "keepalive"]);

/** What a connection proved: the digest of the token it presented, while that token is valid. */
export interface AuthSession {
  readonly peer: string;
  tokenDigest: string | null;
  /** Subject CN of the verified client certificate (mTLS), if any. */
  clientCN?: string | null;
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
  /** Valid token digests (hex) → the token's name, or null for an unnamed token. */
  private valid = new Map<string, string | null>();
  private access = new AccessControl([]);

  constructor(private readonly cfg: AuthConfig) {
    this.load(cfg);
  }

  /** The per-topic access rules in force (inactive without `[[auth.acl]]`). */
  get acl(): AccessControl {
    return this.access;
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
    return this.load(this.cfg.reread ? { ...this.cfg, ...this.cfg.reread() } : this.cfg);
  }

  /** Builds tokens and ACL from `src`, then swaps them in; throws (changing nothing) on any problem. */
  private load(src: AuthConfig): number {
    const access = new AccessControl(src.acl ?? []);
    if (!this.cfg.enabled) {
      this.access = access;
      return 0;
    }
    const entries = [...src.tokens, ...(src.tokenFile ? readTokenFile(src.tokenFile) : [])]
      .map((t): NamedToken | { name: null; token: string } => (typeof t === "string" ? { name: null, token: t } : t))
      .filter((t) => t.token.length > 0);
    if (entries.length === 0) {
      throw new SecurityError(
        "LNC_AUTH_NO_TOKENS",
        `[auth] enabled = true but no token is configured (tokens is empty${src.tokenFile ? ` and ${src.tokenFile} has no token lines` : " and token_file is not set"}); add a token or set enabled = false`,
      );
    }
    const valid = new Map<string, string | null>();
    const names = new Set<string>();
    for (const e of entries) {
      if (e.name !== null) {
        const problem = tokenNameProblem(e.name);
        if (problem) throw new SecurityError("LNC_AUTH_CONFIG", `[auth] ${problem}`);
        if (names.has(e.name)) throw new SecurityError("LNC_AUTH_CONFIG", `[auth] token name ${e.name} is given twice`);
        names.add(e.name);
      }
      const hex = digest(e.token).toString("hex");
      if (valid.has(hex) && valid.get(hex) !== e.name) {
        // One secret cannot be two principals: which rules would apply?
        throw new SecurityError("LNC_AUTH_CONFIG", `[auth] the token named ${e.name ?? "(unnamed)"} is also configured ${valid.get(hex) ? `as ${valid.get(hex)}` : "unnamed"}; give each token one name`);
      }
      valid.set(hex, e.name);
    }
    this.valid = valid;
    this.digests = [...valid.keys()].map((h) => Buffer.from(h, "hex"));
    this.access = access;
    return this.digests.length;
  }

  /** Who `session` is for the ACL and logs: its token's name (while valid) and its certificate CN. */
  principalOf(session: AuthSession): Principal {
    const ids: string[] = [];
    const labels: string[] = [];
    let unrestricted = false;
    if (this.cfg.enabled && session.tokenDigest !== null && this.valid.has(session.tokenDigest)) {
      const name = this.valid.get(session.tokenDigest)!;
      if (name === null) unrestricted = true;
      else ids.push(`token:${name}`);
      labels.push(name === null ? "token:(unnamed)" : `token:${name}`);
    }
    if (session.clientCN) {
      ids.push(`cn:${session.clientCN}`);
      labels.push(`cn:${session.clientCN}`);
    }
    return { ids, unrestricted, label: labels.length ? labels.join(" ") : "anonymous" };
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

/**
 * One token per line; blank lines and `#` comments skipped; surrounding whitespace trimmed. A
 * line `name = token` (blanks around the `=`) is a named token.
 */
export function readTokenFile(path: string): Array<string | NamedToken> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SecurityError("LNC_AUTH_TOKEN_FILE", `cannot read [auth] token_file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => {
      const m = /^(\S+)\s+=\s+(\S.*)$/.exec(line);
      return m ? { name: m[1]!, token: m[2]! } : line;
    });
}
