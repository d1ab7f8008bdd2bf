import { describe, expect, it } from "vitest";
import type { CommandIO } from "../io.js";
import { benchPayload, percentile, renderBench } from "./bench.js";
import { parseStart } from "./consume.js";
import { clusterProblems } from "./cluster-status.js";
import { jsonInteger, parseU64 } from "./session.js";
import { listTopicsMode } from "./topics.js";

function io(): CommandIO & { errs: string[] } {
  const errs: string[] = [];
  return { out: () => undefined, err: (t) => errs.push(t), interactive: false, errs };
}

describe("remote command helpers", () => {
  it("cluster health: no leader, no quorum and unreachable nodes are problems", () => {
    const base = { nodeId: 1, leaderId: 1, isLeader: true, currentTerm: 3, nodeCount: 3, healthyNodes: 3, quorumAvailable: true, peerStates: {} };
    expect(clusterProblems(base)).toEqual([]);
    expect(clusterProblems({ ...base, healthyNodes: 2 })).toEqual(["under-replicated: 2 of 3 nodes reachable"]);
    expect(clusterProblems({ ...base, leaderId: null, isLeader: false, healthyNodes: 1, quorumAvailable: false })).toEqual([
      expect.stringContaining("no leader"),
      "no quorum: 1 of 3 nodes reachable, 2 needed",
    ]);
    expect(clusterProblems({ ...base, mode: "standalone", nodeCount: 1, healthyNodes: 1, leaderId: 0 })).toEqual([]);
    const raft = { role: "leader", replicationMode: "l3", commitIndex: 50_000, appliedIndex: 50_000, lastIndex: 50_000 };
    const lagging = { ...base, raft: { ...raft, peers: { "2": { matchIndex: 50_000, lag: 0, state: "replicate" }, "3": { matchIndex: 20_000, lag: 30_000, state: "replicate" } } } };
    expect(clusterProblems(lagging)).toEqual(["under-replicated: node 3 is 30000 entries behind"]);
    const snapshotting = { ...base, raft: { ...raft, peers: { "2": { matchIndex: 0, lag: 50_000, state: "snapshot" } } } };
    expect(clusterProblems(snapshotting)).toEqual(["under-replicated: node 2 is receiving a snapshot"]);
  });

  it("parseStart takes earliest, latest, an offset or @time", () => {
    expect(parseStart(undefined)).toBe("earliest");
    expect(parseStart("latest")).toBe("latest");
    expect(parseStart("18446744073709551614")).toBe(18446744073709551614n);
    expect(parseStart("@2023-11-14T22:13:20Z")).toEqual({ timestampNs: 1_700_000_000_000_000_000n });
    expect(parseStart("@1700000000000000001")).toEqual({ timestampNs: 1_700_000_000_000_000_001n });
    expect(() => parseStart("-1")).toThrow(/earliest, latest, a record offset, or @<time>/);
    expect(() => parseStart("@yesterday")).toThrow();
    expect(() => parseStart("yesterday")).toThrow();
  });

  it("list-topics mode: exactly one of --path and --server", () => {
    expect(listTopicsMode({ path: "/data" }, io())).toBe("offline");
    expect(listTopicsMode({ server: "h:1" }, io())).toBe("remote");
    const neither = io();
    expect(listTopicsMode({}, neither)).toBe(2);
    expect(neither.errs[0]).toMatch(/needs --path/);
    const both = io();
    expect(listTopicsMode({ path: "/d", server: "h:1" }, both)).toBe(2);
    expect(both.errs[0]).toMatch(/not both/);
  });

  it("parseU64 and jsonInteger keep values beyond 2^53 exact", () => {
    expect(parseU64("x", "18446744073709551615")).toBe(0xffff_ffff_ffff_ffffn);
    expect(() => parseU64("x", "18446744073709551616")).toThrow(/64 bits/);
    expect(() => parseU64("--max-bytes", "1e6")).toThrow(/--max-bytes/);
    expect(jsonInteger(42n)).toBe(42);
    expect(jsonInteger(2n ** 60n)).toBe("1152921504606846976");
  });

  it("percentile is nearest-rank, as upstream lnc-bench", () => {
    const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(500);
    expect(percentile(sorted, 99)).toBe(990);
    expect(percentile(sorted, 99.9)).toBe(999);
    expect(percentile(sorted, 100)).toBe(1000);
    expect(percentile([7], 99.9)).toBe(7);
    expect(percentile([], 50)).toBe(0);
  });

  it("bench payload byte j is j mod 251; the report names every figure", () => {
    const p = benchPayload(600);
    expect([p[0], p[250], p[251], p[599]]).toEqual([0, 250, 0, 599 % 251]);
    const text = renderBench({
      endpoint: "h:1", topic: "t", connections: 1, pipeline: 1, msg_size: 1024, seconds: 2, messages: 10, bytes: 10240,
      msgs_per_sec: 5, mb_per_sec: 0.00512, ack_latency_ms: { min: 1, avg: 2, p50: 2, p95: 3, p99: 4, p999: 5, max: 6 }, errors: 0,
    });
    expect(text).toMatch(/5 msg\/s, 0\.01 MB\/s/);
    expect(text).toMatch(/p50 2\.000 ms {2}p99 4\.000 ms {2}p999 5\.000 ms/);
    expect(text).toMatch(/Errors: +0/);
  });
});
