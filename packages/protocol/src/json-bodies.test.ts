import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { U64_MAX } from "./constants.js";
import { formatClusterStatus, parseClusterStatus, type ClusterStatus } from "./cluster-status-json.js";
import { formatTopicResponse, parseTopicResponse, type TopicResponseBody } from "./topic-json.js";

describe("TopicResponse JSON", () => {
  it("writes upstream's key order and no whitespace", () => {
    const topic = { id: 1, name: "orders", createdAt: 1_700_000_000, topicEpoch: 1 };
    expect(formatTopicResponse({ kind: "topic", topic })).toBe('{"created_at":1700000000,"id":1,"name":"orders","topic_epoch":1}');
    expect(formatTopicResponse({ kind: "topic", topic, retention: { maxAgeSecs: 60n, maxBytes: 0n } })).toBe(
      '{"created_at":1700000000,"id":1,"max_age_secs":60,"max_bytes":0,"name":"orders","topic_epoch":1}',
    );
    expect(formatTopicResponse({ kind: "topics", topics: [topic] })).toBe(
      '{"topics":[{"id":1,"name":"orders","created_at":1700000000,"topic_epoch":1}]}',
    );
    expect(formatTopicResponse({ kind: "topics", topics: [] })).toBe('{"topics":[]}');
    expect(formatTopicResponse({ kind: "deleted", topicId: 3 })).toBe('{"deleted":3}');
    expect(formatTopicResponse({ kind: "retention", topicId: 3, retention: { maxAgeSecs: 1n, maxBytes: U64_MAX } })).toBe(
      '{"max_age_secs":1,"max_bytes":18446744073709551615,"topic_id":3}',
    );
  });

  it("reads upstream's replies as captured (protocol.md §2.4)", () => {
    expect(parseTopicResponse('{"created_at":1700000000,"id":1,"name":"a","topic_epoch":1}')).toEqual({
      kind: "topic",
      topic: { id: 1, name: "a", createdAt: 1700000000, topicEpoch: 1 },
    });
    expect(parseTopicResponse('{"topics":[{"id":1,"name":"a","created_at":5,"topic_epoch":1}]}')).toEqual({
      kind: "topics",
      topics: [{ id: 1, name: "a", createdAt: 5, topicEpoch: 1 }],
    });
    expect(parseTopicResponse('{"max_age_secs":0,"max_bytes":18446744073709551615,"topic_id":2}')).toEqual({
      kind: "retention",
      topicId: 2,
      retention: { maxAgeSecs: 0n, maxBytes: U64_MAX },
    });
  });

  it("round-trips every body, names with quotes and digits included", () => {
    const topic = fc.record({
      id: fc.integer({ min: 0, max: 0xffff_ffff }),
      name: fc.string({ unit: "binary", maxLength: 30 }),
      createdAt: fc.integer({ min: 0, max: 2 ** 40 }),
      topicEpoch: fc.integer({ min: 0, max: 1000 }),
    });
    const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
    const retention = fc.record({ maxAgeSecs: u64, maxBytes: u64 });
    const body: fc.Arbitrary<TopicResponseBody> = fc.oneof(
      fc.record({ kind: fc.constant("topic" as const), topic }),
      fc.record({ kind: fc.constant("topic" as const), topic, retention }),
      fc.record({ kind: fc.constant("topics" as const), topics: fc.array(topic, { maxLength: 5 }) }),
      fc.record({ kind: fc.constant("deleted" as const), topicId: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      fc.record({ kind: fc.constant("retention" as const), topicId: fc.integer({ min: 0, max: 0xffff_ffff }), retention }),
    );
    fc.assert(
      fc.property(body, (b) => {
        expect(parseTopicResponse(formatTopicResponse(b))).toEqual(b);
      }),
      { numRuns: 1000 },
    );
    expect(parseTopicResponse(formatTopicResponse({ kind: "topic", topic: { id: 1, name: '"id":12345678901234567', createdAt: 0, topicEpoch: 1 } }))).toMatchObject({
      topic: { name: '"id":12345678901234567' },
    });
  });

  it("refuses what it cannot read with a typed error", () => {
    for (const bad of ["", "not json", "[]", '{"foo":1}', '{"id":"x","name":"a","created_at":1,"topic_epoch":1}', '{"deleted":-1}', '{"topic_id":1,"max_age_secs":1,"max_bytes":99999999999999999999}']) {
      expect(() => parseTopicResponse(bad)).toThrow(expect.objectContaining({ code: "LNC_PROTO_BAD_PAYLOAD" }));
    }
  });
});

describe("ClusterStatusResponse JSON", () => {
  const standalone: ClusterStatus = {
    mode: "standalone",
    nodeId: 0,
    leaderId: 0,
    isLeader: true,
    currentTerm: 0,
    nodeCount: 1,
    healthyNodes: 1,
    quorumAvailable: true,
    peerStates: {},
  };

  it("writes upstream's standalone reply byte for byte", () => {
    expect(formatClusterStatus(standalone)).toBe(
      '{"current_term":0,"healthy_nodes":1,"is_leader":true,"leader_id":0,"mode":"standalone","node_count":1,"node_id":0,"peer_states":{},"quorum_available":true}',
    );
    expect(parseClusterStatus(formatClusterStatus(standalone))).toEqual(standalone);
  });

  it("reads a cluster reply with a null leader and peer states", () => {
    const json =
      '{"current_term":7,"healthy_nodes":2,"is_leader":false,"leader_id":null,"node_count":3,"node_id":2,"peer_states":{"1":"Connected","3":"Failed"},"quorum_available":true}';
    const s = parseClusterStatus(json);
    expect(s).toEqual({
      nodeId: 2,
      leaderId: null,
      isLeader: false,
      currentTerm: 7,
      nodeCount: 3,
      healthyNodes: 2,
      quorumAvailable: true,
      peerStates: { "1": "Connected", "3": "Failed" },
    });
    expect(formatClusterStatus(s)).toBe(json);
  });

  it("carries our raft object (indexes and, from a leader, each peer's match and lag) through format and parse", () => {
    const leader: ClusterStatus = {
      nodeId: 1,
      leaderId: 1,
      isLeader: true,
      currentTerm: 4,
      nodeCount: 3,
      healthyNodes: 3,
      quorumAvailable: true,
      peerStates: { "2": "Connected", "3": "Connected" },
      raft: {
        role: "leader",
        replicationMode: "l3",
        commitIndex: 120,
        appliedIndex: 119,
        lastIndex: 121,
        peers: { "2": { matchIndex: 121, lag: 0, state: "replicate" }, "3": { matchIndex: 100, lag: 21, state: "probe" } },
      },
    };
    const json = formatClusterStatus(leader);
    expect(json).toContain('"raft":{"applied_index":119,"commit_index":120,"last_index":121,"peers":{"2":{"lag":0,"match_index":121,"state":"replicate"},"3":{"lag":21,"match_index":100,"state":"probe"}},"replication_mode":"l3","role":"leader"}');
    expect(parseClusterStatus(json)).toEqual(leader);
  });

  it("refuses malformed status with a typed error", () => {
    expect(() => parseClusterStatus('{"node_id":1}')).toThrow(expect.objectContaining({ code: "LNC_PROTO_BAD_PAYLOAD" }));
    expect(() => parseClusterStatus("{")).toThrow(expect.objectContaining({ code: "LNC_PROTO_BAD_PAYLOAD" }));
  });
});
