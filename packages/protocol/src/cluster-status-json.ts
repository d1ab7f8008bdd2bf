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
  ]);
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
  return status;
}
