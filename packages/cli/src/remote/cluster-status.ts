import type { ClusterStatus } from "@lance/client";
import { table, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { withClient, type RemoteOptions } from "./session.js";

export interface ClusterStatusOptions extends RemoteOptions {
  json?: boolean;
}

/** Entries a peer may be behind the leader's log before it counts as under-replicated. */
const LAG_WARNING = 10_000;

/** Why the cluster needs attention, as the node sees it; empty when healthy. */
export function clusterProblems(s: ClusterStatus): string[] {
  const problems: string[] = [];
  if (s.leaderId === null) problems.push("no leader: an election is running, or no majority is reachable (runbook 5.1)");
  if (!s.quorumAvailable) problems.push(`no quorum: ${s.healthyNodes} of ${s.nodeCount} nodes reachable, ${Math.floor(s.nodeCount / 2) + 1} needed`);
  else if (s.healthyNodes < s.nodeCount) problems.push(`under-replicated: ${s.healthyNodes} of ${s.nodeCount} nodes reachable`);
  for (const [id, p] of Object.entries(s.raft?.peers ?? {})) {
    if (p.state === "snapshot") problems.push(`under-replicated: node ${id} is receiving a snapshot`);
    else if (p.lag > LAG_WARNING) problems.push(`under-replicated: node ${id} is ${p.lag} entries behind`);
  }
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
  if (s.raft) {
    lines.splice(2, 0, `  Raft:      ${s.raft.role}, replication ${s.raft.replicationMode.toUpperCase()}`);
    lines.push(`  Log:       commit ${s.raft.commitIndex}, applied ${s.raft.appliedIndex}, last ${s.raft.lastIndex}`);
  }
  const peers = Object.entries(s.peerStates);
  const progress = s.raft?.peers ?? {};
  if (peers.length) {
    const rows = peers.map(([id, state]) => {
      const p = progress[id];
      return [`  ${id}`, state, p ? String(p.matchIndex) : "-", p ? String(p.lag) : "-", p ? p.state : "-"];
    });
    lines.push("", table([["  PEER", "CONNECTION", "MATCH", "LAG", "REPLICATION"], ...rows]));
    if (!s.isLeader) lines.push("  (match index and lag are known to the leader: ask it for them)");
  }
  lines.push("", problems.length === 0 ? "✓ Cluster healthy" : problems.map((p) => `✗ ${p}`).join("\n"));
  io.out(lines.join("\n"));
  return problems.length === 0 ? EXIT_OK : EXIT_PROBLEM;
}
