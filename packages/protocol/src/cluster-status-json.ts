import { asObject, jsonObject, parseJsonBody, readBoolean, readNumber } from "./json-body.js";
import { ProtocolError } from "./errors.js";

/** The JSON body of ClusterStatusResponse (0x81), upstream's keys. */
export interface ClusterStatus {
  /** "standalone" on a single node; absent in cluster mode, as upstream. */
  mode?: "standalone";
  nodeId: number;
  leaderId: number | null;
  isLeader: boolean;
  currentTerm: number;
  nodeCount: number;
  healthyNodes: number;
  quorumAvailable: boolean;
  /** Node id (decimal string) -> "Disconnected" | "Connecting" | "Connected" | "Failed". */
  peerStates: Record<string, string>;
  /** Ours (absent from upstream servers): the node's Raft view. */
  raft?: RaftStatus;
}

/** Our extension of the status body: indexes and, on the leader, each peer's replication. */
export interface RaftStatus {
  role: string;
  replicationMode: string;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  /** Leader only: node id -> the last log index known to be stored there and how far behind it is. */
  peers: Record<string, { matchIndex: number; lag: number; state: string }>;
}

export function formatClusterStatus(s: ClusterStatus): string {
  return jsonObject([
    ["current_term", s.currentTerm],
    ["healthy_nodes", s.healthyNodes],
    ["is_leader", s.isLeader],
    ["leader_id", s.leaderId],
    ...(s.mode ? ([["mode", s.mode]] as const) : []),
    ["node_count", s.nodeCount],
    ["node_id", s.nodeId],
    ["peer_states", Object.fromEntries(Object.keys(s.peerStates).sort().map((k) => [k, s.peerStates[k]]))],
    ["quorum_available", s.quorumAvailable],
    ...(s.raft ? ([["raft", raftJson(s.raft)]] as const) : []),
  ]);
}

function raftJson(r: RaftStatus): Record<string, unknown> {
  const peers = Object.fromEntries(
    Object.keys(r.peers)
      .sort()
      .map((k) => [k, { lag: r.peers[k]!.lag, match_index: r.peers[k]!.matchIndex, state: r.peers[k]!.state }]),
  );
  return { applied_index: r.appliedIndex, commit_index: r.commitIndex, last_index: r.lastIndex, peers, replication_mode: r.replicationMode, role: r.role };
}

function parseRaft(v: unknown): RaftStatus | undefined {
  if (v === undefined || v === null) return undefined;
  const o = asObject(v, `${WHAT} raft`);
  const peers: RaftStatus["peers"] = {};
  for (const [k, p] of Object.entries(asObject(o["peers"] ?? {}, `${WHAT} raft.peers`))) {
    const q = asObject(p, `${WHAT} raft.peers.${k}`);
    peers[k] = { matchIndex: readNumber(q, "match_index", WHAT), lag: readNumber(q, "lag", WHAT), state: String(q["state"] ?? "") };
  }
  return {
    role: String(o["role"] ?? ""),
    replicationMode: String(o["replication_mode"] ?? ""),
    commitIndex: readNumber(o, "commit_index", WHAT),
    appliedIndex: readNumber(o, "applied_index", WHAT),
    lastIndex: readNumber(o, "last_index", WHAT),
    peers,
  };
}

const WHAT = "cluster status";

export function parseClusterStatus(json: string): ClusterStatus {
  const obj = asObject(parseJsonBody(json, WHAT), WHAT);
  const peers = asObject(obj["peer_states"] ?? {}, WHAT);
  const peerStates: Record<string, string> = {};
  for (const [k, v] of Object.entries(peers)) {
    if (typeof v !== "string") throw new ProtocolError("LNC_PROTO_BAD_PAYLOAD", `${WHAT}: peer ${k} state is not a string`);
    peerStates[k] = v;
  }
  const leader = obj["leader_id"];
  const status: ClusterStatus = {
    nodeId: readNumber(obj, "node_id", WHAT),
    leaderId: leader === null || leader === undefined ? null : readNumber(obj, "leader_id", WHAT),
    isLeader: readBoolean(obj, "is_leader", WHAT),
    currentTerm: readNumber(obj, "current_term", WHAT),
    nodeCount: readNumber(obj, "node_count", WHAT),
    healthyNodes: readNumber(obj, "healthy_nodes", WHAT),
    quorumAvailable: readBoolean(obj, "quorum_available", WHAT),
    peerStates,
  };
  if (obj["mode"] === "standalone") status.mode = "standalone";
  const raft = parseRaft(obj["raft"]);
  if (raft) status.raft = raft;
  return status;
}
