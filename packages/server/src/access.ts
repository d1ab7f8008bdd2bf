import { encodeMessage, formatTopicResponse, type ClientMessage } from "@lance/protocol";
import type { TopicMetadata } from "@lance/segment-format";
import type { AuthSession, TokenAuth } from "./auth.js";
import { SecurityError } from "./errors.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/** What a principal may do with a topic. `admin`: create (the name being created), delete, set retention. */
export type Permission = "read" | "write" | "admin";
export const PERMISSIONS: readonly Permission[] = ["read", "write", "admin"];

/**
 * One `[[auth.acl]]` entry: `principal` is `token:<name>` (a named token), `cn:<CN>` (the
 * subject CN of a verified client certificate) or `*` (every connection, anonymous ones
 * included); `topics` are names or `*` patterns (`logs-*`, `*`).
 */
export interface AclRule {
  principal: string;
  topics: string[];
  allow: Permission[];
}

/** Who a connection is, for access checks and logs (never the token itself). */
export interface Principal {
  /** `token:<name>`, `cn:<CN>`: every ACL principal this connection matches besides `*`. */
  ids: string[];
  /** Authenticated with an unnamed token (`tokens = [...]`): full access, as without an ACL. */
  unrestricted: boolean;
  /** For logs and error texts: `token:ingest-svc`, `cn:web-1`, `token:(unnamed)`, `anonymous`. */
  label: string;
}

const TOKEN_NAME = /^[A-Za-z0-9_.@-]{1,128}$/;
const TOPIC_PATTERN = /^[A-Za-z0-9*-]{1,249}$/;

/** Why `name` cannot name a token, or null. */
export function tokenNameProblem(name: string): string | null {
  return TOKEN_NAME.test(name) ? null : `token name ${JSON.stringify(name)} must be 1-128 characters of letters, digits and _ . @ -`;
}

/** Why `rules` is not a usable ACL, or null. */
export function aclProblem(rules: readonly AclRule[]): string | null {
  for (const [i, r] of rules.entries()) {
    const at = `auth.acl[${i}]`;
    if (typeof r !== "object" || r === null) return `${at} must be a table`;
    if (typeof r.principal !== "string") return `${at}.principal must be a string`;
    const p = r.principal;
    if (p !== "*" && !(p.startsWith("token:") && tokenNameProblem(p.slice(6)) === null) && !(p.startsWith("cn:") && p.length > 3)) {
      return `${at}.principal ${JSON.stringify(p)} must be "token:<name>", "cn:<certificate CN>" or "*"`;
    }
    if (!Array.isArray(r.topics) || r.topics.length === 0) return `${at}.topics must be a non-empty list of topic names or patterns`;
    for (const t of r.topics) {
      if (typeof t !== "string" || !TOPIC_PATTERN.test(t)) return `${at}.topics: ${JSON.stringify(t)} is not a topic name or pattern (letters, digits, -, and * for any characters)`;
    }
    if (!Array.isArray(r.allow) || r.allow.length === 0) return `${at}.allow must be a non-empty list of "read", "write", "admin"`;
    for (const a of r.allow) if (!PERMISSIONS.includes(a)) return `${at}.allow: ${JSON.stringify(a)} is not one of "read", "write", "admin"`;
  }
  return null;
}

interface CompiledRule {
  principal: string;
  topics: RegExp[];
  allow: ReadonlySet<Permission>;
}

const compilePattern = (p: string): RegExp => new RegExp(`^${p.replace(/-/g, "\\-").replace(/\*/g, ".*")}$`);

/**
 * Per-topic access control. With no rules it is inactive and permits everything (the behaviour
 * without an ACL). With rules, a connection may do what the union of the rules naming one of its
 * principals (or `*`) allows; a connection authenticated with an unnamed token may do everything.
 */
export class AccessControl {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly AclRule[]) {
    const problem = aclProblem(rules);
    if (problem) throw new SecurityError("LNC_AUTH_CONFIG", problem);
    this.rules = rules.map((r) => ({ principal: r.principal, topics: r.topics.map(compilePattern), allow: new Set(r.allow) }));
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  get ruleCount(): number {
    return this.rules.length;
  }

  allows(who: Principal, perm: Permission, topic: string): boolean {
    if (!this.active || who.unrestricted) return true;
    return this.rules.some((r) => r.allow.has(perm) && (r.principal === "*" || who.ids.includes(r.principal)) && r.topics.some((t) => t.test(topic)));
  }
}

/** The topics an access check needs to see (a structural slice of TopicRegistry). */
export interface TopicLookup {
  get(id: number): { meta: TopicMetadata } | undefined;
  list(): Array<{ meta: TopicMetadata }>;
}

/** What `msg` needs, and on which topic: by id (existing topic) or by name (create). */
function requirement(msg: ClientMessage): { perm: Permission; topicId?: number; name?: string } | "list" | null {
  switch (msg.type) {
    case "ingest":
      return { perm: "write", topicId: msg.topicId };
    case "fetch":
    case "subscribe":
    case "commitOffset":
    case "offsetForTime":
    case "getTopic":
      return { perm: "read", topicId: msg.topicId };
    case "createTopic":
    case "createTopicWithRetention":
      return { perm: "admin", name: msg.name };
    case "deleteTopic":
    case "setRetention":
      return { perm: "admin", topicId: msg.topicId };
    case "listTopics":
      return "list";
    default:
      // authenticate, keepalive, unsubscribe, getClusterStatus: no topic involved.
      return null;
  }
}

/** The `Access denied:` text: the permission and the topic, and who asked (never a token). */
export function accessDeniedText(perm: Permission, topic: string, who: Principal): string {
  return `Access denied: ${perm} permission on topic ${JSON.stringify(topic.slice(0, 256))} is required (principal ${who.label})`;
}

/**
 * The per-topic access check of one request, run by the broker right after the token check.
 * Returns null to let the request through, or the reply to send instead: an `Access denied:`
 * error, or for ListTopics the list cut down to the topics the principal may read. A request
 * naming a topic id that does not exist is let through (the broker answers "not found").
 */
export function checkAccess(auth: TokenAuth, topics: TopicLookup, msg: ClientMessage, session: AuthSession, metrics: Metrics, log: Logger): Uint8Array | null {
  const acl = auth.acl;
  if (!acl.active) return null;
  const need = requirement(msg);
  if (need === null) return null;
  const who = auth.principalOf(session);
  if (who.unrestricted) return null;
  if (need === "list") {
    const visible = topics.list().filter((t) => acl.allows(who, "read", t.meta.name));
    const json = formatTopicResponse({
      kind: "topics",
      topics: visible.map((t) => ({ id: t.meta.id, name: t.meta.name, createdAt: t.meta.created_at, topicEpoch: t.meta.topic_epoch })),
    });
    return encodeMessage({ type: "topicResponse", json });
  }
  let name: string;
  if (need.name !== undefined) {
    name = need.name;
    if (name.length === 0) return null;
  } else {
    const t = topics.get(need.topicId!);
    if (!t) return null;
    name = t.meta.name;
  }
  if (acl.allows(who, need.perm, name)) return null;
  metrics.authFailures.inc({ reason: "access_denied" });
  log.warn({ peer: session.peer, principal: who.label, request: msg.type, topic: name.slice(0, 256), permission: need.perm }, "request refused: access denied");
  return encodeMessage({ type: "errorResponse", message: accessDeniedText(need.perm, name, who) });
}
