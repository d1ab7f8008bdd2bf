/** Stable error codes. Tools and tests match on `code`, never on message text. */
export type LanceErrorCode =
  | "LNC_CRC_MISMATCH"
  | "LNC_BAD_LENGTH"
  | "LNC_BAD_MAGIC"
  | "LNC_BAD_VERSION"
  | "LNC_BAD_HEADER"
  | "LNC_TORN_TAIL"
  | "LNC_OFFSET_OUT_OF_RANGE"
  | "LNC_OFFSET_REGRESSION"
  | "LNC_BAD_FILE_NAME"
  | "LNC_BAD_ARGUMENT"
  | "LNC_BAD_METADATA"
  | "LNC_NOT_FOUND"
  | "LNC_CLOSED"
  | "LNC_INDEX_CORRUPT"
  | "LNC_INDEX_STALE"
  | "LNC_UNSAFE_REPAIR"
  | (string & {});

export class LanceError extends Error {
  readonly code: LanceErrorCode;
  constructor(code: LanceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LanceError";
    this.code = code;
  }
}

export function isLanceError(err: unknown, code?: LanceErrorCode): err is LanceError {
  return err instanceof LanceError && (code === undefined || err.code === code);
}
