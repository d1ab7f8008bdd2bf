export { Wal } from "./wal.js";
export type { WalEntry, ReadEntry, WalOptions, WalLogEvent, RecoveryReport } from "./types.js";
export type { IndexRange } from "./entry-table.js";
export { WalReplayError, repairCommand, type WalErrorCode } from "./errors.js";
export {
  FILE_HEADER_SIZE,
  FRAME_HEADER_SIZE,
  MAX_USER_TYPE,
  TYPE_GAP,
  TYPE_TRUNCATE,
  encodeFrame,
  encodeFileHeader,
  decodeFileHeader,
  frameSize,
  maxPayloadFor,
  type FileHeader,
} from "./format.js";
export { walFileName, parseWalFileName, detectWalPath, backupDirFor, WAL_FILE_EXT, HARD_STATE_FILE, CHECKPOINT_FILE } from "./paths.js";
export { readHardState, readCheckpoint, type HardState, type Checkpoint } from "./state.js";
export { scanWalFile, scanWalDir, type WalFileScan, type WalScanRecord, type WalScanProblem, type RecordKind, type WalDirScan, type WalDirFileSummary } from "./scan.js";
export { repairWal, type WalRepairOptions, type WalRepairReport } from "./repair.js";
export type { Damage, Tail } from "./analyze.js";
export { lockHolder } from "./lock.js";
