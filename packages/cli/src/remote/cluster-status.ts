import type { ClusterStatus } from "@lance/client";
import { table, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { withClient, type RemoteOptions } from "./session.js";

export interface ClusterStatusOptions extends RemoteOptions {
  json?: boolean;
}

/** Why the cluster needs attention, as the node sees it; empty when healthy. */
export function clusterProblems(s: ClusterStatus): string[] {
  const problems: string[] = [];
  if (s.leaderId === null) problems.push("no leader: an election is running, or no majority is reachable (runbook 5.1)");
  if (!s.quorumAvailable) problems.push(`no quorum: ${s.healthyNodes} of ${s.nodeCount} nodes reachable, ${Math.floor(s.nodeCount / 2) + 1} needed`);
  else if (s.healthyNodes < s.nodeCount) problems.push(`under-replicated: ${s.healthyNodes} of ${s.nodeCount} nodes reachable`);
  return problems;
}

/**
 * `lnc cluster-status --server host:port`: what the node you ask knows (its id, role, term,
 * leader, peers). Exit 1 when there is no leader, no quorum, or a node is unreachable.
 */
export async function runClusterStatus(opts: ClusterStatusOptions, io: CommandIO): Promise<number> {
  const s = await withClient(opts, (_c, admin) => admin.clusterStatus());
  const problems = clusterProblems(s);
  if (opts.json) {
    io.out(toJson({ ...s, healthy: problems.length === 0, problems }));
    return problems.length === 0 ? EXIT_OK : EXIT_PROBLEM;
  }
  const role = s.isLeader ? "leader" : s.leaderId === null ? "follower (no leader known)" : "follower";
  const lines = [
    `Node ${s.nodeId} at ${opts.server}${s.mode ? ` (${s.mode})` : ""}`,
    `  Role:      ${role}`,
    `  Term:      ${s.currentTerm}`,
    `  Leader:    ${s.leaderId ?? "none"}`,
    `  Nodes:     ${s.healthyNodes} of ${s.nodeCount} reachable`,
    `  Quorum:    ${s.quorumAvailable ? "available" : "NOT available"}`,
  ];
  const peers = Object.entries(s.peerStates);
  if (peers.length) lines.push("", table([["  PEER", "STATE"], ...peers.map(([id, state]) => [`  ${id}`, state])]));
  lines.push("", problems.length === 0 ? "✓ Cluster healthy" : problems.map((p) => `✗ ${p}`).join("\n"));
  io.out(lines.join("\n"));
  return problems.length === 0 ? EXIT_OK : EXIT_PROBLEM;
}
