/** Stable codes of the security and limit errors (configuration, TLS material, token files). */
export type SecurityErrorCode =
  /** `[auth] enabled` with no token in `tokens` or `token_file`. */
  | "LNC_AUTH_NO_TOKENS"
  /** `token_file` cannot be read. */
  | "LNC_AUTH_TOKEN_FILE"
  /** Bad token names (duplicate, one token under two names) or a bad `[[auth.acl]]` rule. */
  | "LNC_AUTH_CONFIG"
  /** `[tls] enabled` without a usable cert/key/CA. */
  | "LNC_TLS_CONFIG"
  /** A certificate, key or CA file cannot be read or does not parse. */
  | "LNC_TLS_MATERIAL"
  /** A limit setting out of range. */
  | "LNC_LIMIT_CONFIG";

export class SecurityError extends Error {
  readonly code: SecurityErrorCode;
  constructor(code: SecurityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SecurityError";
    this.code = code;
  }
}

export function isSecurityError(err: unknown, code?: SecurityErrorCode): err is SecurityError {
  return err instanceof SecurityError && (code === undefined || err.code === code);
}
