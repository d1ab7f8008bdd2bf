/**
 * ErrorResponse payloads are free text; a few prefixes carry meaning (protocol.md §2.6).
 * Keeping them textual is what lets the upstream Rust client read our errors: it only ever
 * looks for the substring `FORWARD_FAILED` (retryable) and treats everything else as final.
 */
export const ErrorPrefix = {
  /** Upstream: a follower could not forward. Retryable for every client. */
  ForwardFailed: "FORWARD_FAILED: ",
  /** Upstream: this node is not the leader; `redirect to <host:port>` or `leader unknown`. */
  NotLeader: "NOT_LEADER: ",
  /** Ours: no majority reachable, so no write can commit. Also contains FORWARD_FAILED. */
  NoQuorum: "NO_QUORUM: ",
  /** Ours: the node runs with `read_only = true`. */
  ReadOnly: "READ_ONLY: ",
} as const;

/** Exact texts both sides compare against. */
export const ErrorText = {
  AuthenticationRequired: "Authentication required",
  InvalidClientCommand: "Invalid client command",
  AuthenticationAtConnectionLevel: "Authentication handled at connection level",
  UnknownTopic: "Unknown topic",
} as const;

export function notLeaderText(leader?: string): string {
  return leader ? `${ErrorPrefix.NotLeader}redirect to ${leader}` : `${ErrorPrefix.NotLeader}leader unknown`;
}

/**
 * `NO_QUORUM: FORWARD_FAILED: <detail>`: the second prefix makes upstream clients retry, as
 * they do on upstream's own quorum failure ("FORWARD_FAILED: Quorum not reached ...").
 */
export function noQuorumText(detail: string): string {
  return `${ErrorPrefix.NoQuorum}${ErrorPrefix.ForwardFailed}${detail}`;
}

export function readOnlyText(detail = "server is in read_only mode; writes are rejected"): string {
  return `${ErrorPrefix.ReadOnly}${detail}`;
}

export type ErrorTextKind =
  | { kind: "notLeader"; leader: string | null }
  | { kind: "noQuorum"; detail: string }
  | { kind: "forwardFailed"; detail: string }
  | { kind: "readOnly"; detail: string }
  | { kind: "authenticationRequired" }
  | { kind: "other"; text: string };

/** Classifies an ErrorResponse text by its prefix. */
export function parseErrorText(text: string): ErrorTextKind {
  if (text.startsWith(ErrorPrefix.NotLeader)) {
    const rest = text.slice(ErrorPrefix.NotLeader.length);
    const leader = rest.startsWith("redirect to ") ? rest.slice("redirect to ".length).trim() : "";
    return { kind: "notLeader", leader: leader === "" ? null : leader };
  }
  if (text.startsWith(ErrorPrefix.NoQuorum)) {
    let detail = text.slice(ErrorPrefix.NoQuorum.length);
    if (detail.startsWith(ErrorPrefix.ForwardFailed)) detail = detail.slice(ErrorPrefix.ForwardFailed.length);
    return { kind: "noQuorum", detail };
  }
  if (text.startsWith(ErrorPrefix.ReadOnly)) return { kind: "readOnly", detail: text.slice(ErrorPrefix.ReadOnly.length) };
  if (text.startsWith(ErrorPrefix.ForwardFailed)) return { kind: "forwardFailed", detail: text.slice(ErrorPrefix.ForwardFailed.length) };
  if (text === ErrorText.AuthenticationRequired) return { kind: "authenticationRequired" };
  return { kind: "other", text };
}

/** Upstream's rule, which our client keeps: an error is worth retrying iff it mentions FORWARD_FAILED. */
export function isRetryableErrorText(text: string): boolean {
  return text.includes("FORWARD_FAILED");
}
