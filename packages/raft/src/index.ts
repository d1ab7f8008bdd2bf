export { RaftError, isRaftError, type RaftErrorCode } from "./errors.js";
export * from "./types.js";
export { type RaftConfig, DEFAULT_ELECTION_TICK, DEFAULT_HEARTBEAT_TICK } from "./config.js";
export { type Storage, MemoryStorage } from "./storage.js";
export { EntryLog } from "./entry-log.js";
export { RawNode } from "./raw-node.js";
export { createRng, randInt, type Rng } from "./rng.js";
export * as sim from "./sim/index.js";
