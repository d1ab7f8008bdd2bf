export { createServer, type LanceServer } from "./server.js";
export { resolveConfig, parseHostPort, DEFAULT_CLIENT_PORT, type ServerConfig, type ServerConfigInput, type HostPort } from "./config.js";
export { defaultLogger, type Logger } from "./log.js";
export type { HealthState } from "./http.js";
export type { Metrics } from "./metrics.js";
