import type { Payload } from "./format.js";
import type { IndexRange } from "./entry-table.js";
import type { Checkpoint, HardState } from "./state.js";

/** Public types of the WAL log store. */

export interface WalEntry {
  index: number;
  term: number;
  /** 0x00-0xEF; defaults to 0. */
  type?: number;
  /** One buffer, or parts stored back to back as one payload (saves the caller a copy). */
  payload: Payload;
}

export interface ReadEntry {
  index: number;
  term: number;
  type: number;
  payload: Uint8Array;
}

export interface WalOptions {
  /** Size of every WAL file (preallocated, recycled). Default 64 MiB. */
  segmentSize?: number;
  /**
   * How long the first append of an idle log waits for company before the write goes out.
   * 0 (default) = the next turn of the event loop. Appends that arrive while a write+fdatasync
   * is in flight always share the next one.
   */
  groupCommitWindowMs?: number;
  /** Upper bound of one group-commit write. Default 4 MiB (a larger single entry goes alone). */
  maxBatchBytes?: number;
  /** Recycled files kept for reuse; more are deleted. Default 2. */
  maxSpareFiles?: number;
  /** Receives what replay found (torn tail, holes) and file lifecycle events. */
  logger?: (event: WalLogEvent) => void;
}

export type WalLogEvent =
  | { event: "wal.recovered"; report: RecoveryReport }
  | { event: "wal.torn_tail_truncated"; file: string; offset: number; bytes: number; reason: string }
  | { event: "wal.file_created"; file: string; firstIndex: number }
  | { event: "wal.file_recycled"; file: string; from: string; firstIndex: number }
  | { event: "wal.file_deleted"; file: string };

/** What replay found on open; the server logs it. */
export interface RecoveryReport {
  dir: string;
  files: number;
  liveFiles: number;
  spareFiles: number;
  entries: number;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  checkpoint: Checkpoint;
  hardState: HardState;
  /** Set when an incomplete last write was cut off. */
  tornTail: { file: string; offset: number; bytes: number; reason: string } | null;
  /** Index ranges missing because `lnc repair --skip-corrupt` skipped them. */
  holes: IndexRange[];
  durationMs: number;
}
