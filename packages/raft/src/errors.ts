/** Stable error codes. Hosts and tests match on `code`, never on message text. */
export type RaftErrorCode =
  | "LNC_RAFT_NOT_LEADER"
  | "LNC_RAFT_TRANSFER_IN_PROGRESS"
  | "LNC_RAFT_COMPACTED"
  | "LNC_RAFT_UNAVAILABLE"
  | "LNC_RAFT_SNAPSHOT_OUT_OF_DATE"
  | "LNC_RAFT_BAD_CONFIG"
  | "LNC_RAFT_BAD_ARGUMENT"
  | "LNC_RAFT_READY_PENDING";

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  /** For LNC_RAFT_NOT_LEADER: the leader this node knows of, or null. */
  readonly leader: number | null;
  constructor(code: RaftErrorCode, message: string, leader: number | null = null) {
    super(message);
    this.name = "RaftError";
    this.code = code;
    this.leader = leader;
  }
}

export function isRaftError(err: unknown, code?: RaftErrorCode): err is RaftError {
  return err instanceof RaftError && (code === undefined || err.code === code);
}
