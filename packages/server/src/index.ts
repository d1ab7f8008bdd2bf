export { createServer, TLS_REQUIRED_TEXT, type LanceServer, type ReloadReport } from "./server.js";
export type { TlsConfig } from "./tls.js";
export { readTokenFile, type AuthConfig, type NamedToken } from "./auth.js";
export { aclProblem, type AclRule, type Permission } from "./access.js";
export { SecurityError, isSecurityError, type SecurityErrorCode } from "./errors.js";
export { resolveConfig, parseHostPort, parsePeer, votersOf, DEFAULT_CLIENT_PORT, DEFAULT_REPLICATION_PORT, type ServerConfig, type ServerConfigInput, type HostPort, type ClusterConfig, type PeerConfig } from "./config.js";
export { defaultLogger, type Logger } from "./log.js";
export type { HealthState } from "./http.js";
export type { Metrics } from "./metrics.js";
