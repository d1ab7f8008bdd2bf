import { RaftError } from "./errors.js";
import type { Storage } from "./storage.js";
import type { NodeId } from "./types.js";

export interface RaftConfig {
  id: NodeId;
  /** Every voter of the group, this node included. Static: the same list on every node. */
  voters: readonly NodeId[];
  storage: Storage;
  /**
   * Seeds the randomized election timeout and the rejoin nonce. Must differ between process
   * starts of the same node (e.g. from crypto.randomInt) so a rejoin probe cannot be confused
   * with one from a previous life; a simulator passes it from its own seeded RNG.
   */
  seed: number;
  /**
   * Id for a new disk, read only when the storage is completely empty (first start, or a node
   * replaced with a wiped disk). Peers trust the highest disk id they have seen for a node, so it
   * must grow from one replacement of a node to the next: pass a creation timestamp such as
   * Date.now(). Default: random (then a replacement's probe overtaken by a late probe from the
   * previous disk can stall the replacement; see docs/raft.md).
   */
  diskId?: number;
  /** Base election timeout in ticks; the effective one is random in [electionTick, 2*electionTick). Default 15. */
  electionTick?: number;
  /** Leader heartbeat period in ticks. Default 5. Must be less than electionTick. */
  heartbeatTick?: number;
  /**
   * Highest index the host's state machine already reflects durably (so committed entries up to
   * it are not handed out again after a restart). Default: the storage's snapshot index.
   */
  applied?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /**
   * Leader only: its append messages come in `Ready.earlyMessages`, which the host may send
   * before persisting that Ready (Raft thesis §10.2.1: the leader writes its log in parallel
   * with replicating it). Safe because a leader counts itself toward a commit only once its own
   * copy is persisted. Default false: every message is in `Ready.messages`.
   */
  earlyAppends?: boolean;
  /** Entries per append message. Default 64. */
  maxEntriesPerMsg?: number;
  /** Entry data bytes per append message (at least one entry is always sent). Default 4 MiB. */
  maxBytesPerMsg?: number;
  /** Unacknowledged appends per follower in replicate state. Default 64. */
  maxInflightMsgs?: number;
  /** Bytes per InstallSnapshot chunk. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /** Unacknowledged snapshot chunks per follower. Default 4. */
  maxSnapshotChunksInflight?: number;
}

export type ResolvedConfig = Required<RaftConfig>;

export const DEFAULT_ELECTION_TICK = 15;
export const DEFAULT_HEARTBEAT_TICK = 5;

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    electionTick: DEFAULT_ELECTION_TICK,
    heartbeatTick: DEFAULT_HEARTBEAT_TICK,
    applied: 0,
    diskId: 0,
    preVote: true,
    checkQuorum: true,
    earlyAppends: false,
    maxEntriesPerMsg: 64,
    maxBytesPerMsg: 4 * 1024 * 1024,
    maxInflightMsgs: 64,
    snapshotChunkBytes: 1024 * 1024,
    maxSnapshotChunksInflight: 4,
    ...stripUndefined(c),
  } as ResolvedConfig;
  if (!r.voters.includes(r.id)) throw new RaftError("LNC_RAFT_BAD_CONFIG", `node ${r.id} is not among the voters ${r.voters.join(",")}`);
  if (new Set(r.voters).size !== r.voters.length) throw new RaftError("LNC_RAFT_BAD_CONFIG", "duplicate voter ids");
  if (!(r.heartbeatTick >= 1 && r.electionTick > r.heartbeatTick)) {
    throw new RaftError("LNC_RAFT_BAD_CONFIG", `need 1 <= heartbeatTick (${r.heartbeatTick}) < electionTick (${r.electionTick})`);
  }
  for (const k of ["maxEntriesPerMsg", "maxBytesPerMsg", "maxInflightMsgs", "snapshotChunkBytes", "maxSnapshotChunksInflight"] as const) {
    if (!(Number.isInteger(r[k]) && r[k] >= 1)) throw new RaftError("LNC_RAFT_BAD_CONFIG", `${k} must be a positive integer`);
  }
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
