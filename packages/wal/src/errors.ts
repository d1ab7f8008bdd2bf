import { LanceError } from "@lance/segment-format";

/** Stable codes for WAL errors; tools and tests match on these, never on the message. */
export type WalErrorCode =
  | "LNC_WAL_CORRUPT"
  | "LNC_WAL_BAD_APPEND"
  | "LNC_WAL_OUT_OF_RANGE"
  | "LNC_WAL_GAP"
  | "LNC_WAL_ENTRY_TOO_LARGE"
  | "LNC_WAL_FAILED"
  | "LNC_WAL_CLOSED"
  | "LNC_WAL_STATE_CORRUPT"
  | "LNC_WAL_REPAIR_INCOMPLETE"
  | "LNC_WAL_NOT_A_WAL"
  | "LNC_WAL_BAD_ARGUMENT"
  | "LNC_WAL_LOCKED";

export function walError(code: WalErrorCode, message: string, options?: { cause?: unknown }): LanceError {
  return new LanceError(code, message, options);
}

/** The command an operator runs to get past a corrupt WAL (runbook 2.3). */
export function repairCommand(dir: string): string {
  return `run: lnc repair --path ${dir}  (truncates at the first bad entry; add --skip-corrupt to keep the valid entries after it, --dry-run to preview)`;
}

/**
 * Startup refuses a WAL with corruption followed by valid entries. The first line is exactly
 * `WAL replay failed: <file> at byte <n>: <reason>`; the second names the repair command.
 */
export class WalReplayError extends LanceError {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  readonly walDir: string;
  constructor(walDir: string, file: string, offset: number, reason: string) {
    super("LNC_WAL_CORRUPT", `WAL replay failed: ${file} at byte ${offset}: ${reason}\n${repairCommand(walDir)}`);
    this.name = "WalReplayError";
    this.file = file;
    this.offset = offset;
    this.reason = reason;
    this.walDir = walDir;
  }
}
