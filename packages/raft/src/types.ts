export type NodeId = number;

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

/** "noop" entries are appended by every new leader (Raft §5.4.2); hosts skip them when applying. */
export type EntryType = "normal" | "noop";

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * What must be on disk before any message of the same Ready leaves the node.
 * `rejoining` marks a node that started from an empty disk and has not yet proven it may vote
 * again (see docs/raft.md, "Node replacement"); it must survive a crash like term and vote.
 */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
  readonly rejoining: boolean;
  /**
   * Random id chosen when the node starts on an empty disk, kept for the life of that disk.
   * Peers use it to ignore acknowledgements sent by the same node id before its disk was wiped.
   */
  readonly diskId: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0, rejoining: false, diskId: 0 };

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit && a.rejoining === b.rejoining && a.diskId === b.diskId;
}

/** A snapshot covers the applied state through `index` (whose entry had `term`); `size` is its byte length. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly size: number;
}

export const EMPTY_SNAPSHOT: SnapshotMeta = { index: 0, term: 0, size: 0 };

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** AppendEntries. `index`/`logTerm` describe the entry just before `entries`. */
export interface AppendMessage extends MessageBase {
  readonly type: "app";
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Reply to "app". On success `index` is the last index now known to match the leader.
 * On reject `index` echoes the rejected prev index and (`hintIndex`, `hintTerm`) let the leader
 * skip a whole conflicting term at once (fast backtracking).
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: "appResp";
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
  /** The sender's HardState.diskId: an acknowledgement is only as good as the disk that made it. */
  readonly diskId: number;
}

/** Heartbeat. The follower may commit up to `commit` only if its entry there has `commitTerm`. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: number;
  readonly commitTerm: number;
}

export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: "heartbeatResp";
}

/**
 * Vote or pre-vote request. For a pre-vote `term` is the term the sender would campaign in.
 * `transfer` marks a campaign the previous leader asked for (TimeoutNow): voters then set
 * their leader lease aside.
 */
export interface VoteMessage extends MessageBase {
  readonly type: "vote" | "preVote";
  readonly index: number;
  readonly logTerm: number;
  readonly transfer: boolean;
}

/** Leadership transfer: the leader tells an up-to-date follower to campaign at once. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: "timeoutNow";
}

export interface VoteResponseMessage extends MessageBase {
  readonly type: "voteResp" | "preVoteResp";
  readonly reject: boolean;
}

/**
 * One chunk of InstallSnapshot: bytes [offset, offset + data.length) of the snapshot `meta`.
 * The last chunk ends at meta.size.
 */
export interface SnapshotMessage extends MessageBase {
  readonly type: "snap";
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Acknowledges snapshot chunks: the receiver has staged every byte before `offset`. */
export interface SnapshotResponseMessage extends MessageBase {
  readonly type: "snapResp";
  readonly snapIndex: number;
  readonly offset: number;
}

/**
 * Sent by a rejoining node (empty disk) to every peer; `nonce` is fresh per process start so a
 * reply is known to describe the peer after the wipe. Carries no term semantics (term 0).
 */
export interface ProbeMessage extends MessageBase {
  readonly type: "probe";
  readonly nonce: number;
  /** The new disk's id: from now on the receiver ignores acknowledgements from any other. */
  readonly diskId: number;
  readonly lastIndex: number;
}

/** The answering peer's current term and the end of its log, read after the probe arrived. */
export interface ProbeResponseMessage extends MessageBase {
  readonly type: "probeResp";
  readonly nonce: number;
  readonly peerTerm: number;
  readonly peerLastIndex: number;
  readonly peerLastTerm: number;
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | SnapshotResponseMessage
  | ProbeMessage
  | ProbeResponseMessage
  | TimeoutNowMessage;

export type MessageType = Message["type"];

/** A snapshot chunk the host must stage (write at `offset`; offset 0 starts a new staging file). */
export interface SnapshotChunk {
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly data: Uint8Array;
}

/**
 * Work for the host. Carry it out in this order (earlyMessages may go first), then call advance(ready):
 * 1. durably (fsync) stage `snapshotChunks`, install `snapshot` (if set), append `entries`
 *    (dropping any stored suffix from the first new index on), persist `hardState` (if set);
 * 2. send `messages`;
 * 3. apply `committedEntries` in order.
 */
export interface Ready {
  /**
   * With `earlyAppends`: a leader's append messages, which may be sent before step 1 (they
   * promise nothing about this node's disk). Empty otherwise.
   */
  readonly earlyMessages: readonly Message[];
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshotChunks: readonly SnapshotChunk[];
  readonly snapshot: SnapshotMeta | null;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly rejoining: boolean;
}

/** What the leader knows of one voter's log: `match` is the last index known to be stored there. */
export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  readonly state: "probe" | "replicate" | "snapshot";
  /** Heard from since the last check-quorum round. */
  readonly recentActive: boolean;
}
