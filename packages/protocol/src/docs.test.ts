import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type LwpMessage, decodeFrame, decodeMessage, encodeMessage, formatClusterStatus } from "./index.js";
import { hex, toHex } from "./test-helpers.js";

const doc = readFileSync(fileURLToPath(new URL("../../../docs/protocol.md", import.meta.url)), "utf8");

/** Every "```hex <name>" block of docs/protocol.md. */
const blocks = new Map([...doc.matchAll(/```hex ([\w-]+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, hex(m[2]!)]));

const records = hex("01 05 00 00 00 68 65 6C 6C 6F 01 05 00 00 00 77 6F 72 6C 64");

const expected: Record<string, LwpMessage> = {
  keepalive: { type: "keepalive" },
  backpressure: { type: "backpressure" },
  "delete-topic-1": { type: "deleteTopic", topicId: 1 },
  "error-unknown-topic": { type: "errorResponse", message: "Unknown topic" },
  "example-ingest": {
    type: "ingest",
    batchId: 1n,
    timestampNs: 1_700_000_000_000_000_000n,
    recordCount: 2,
    topicId: 1,
    payload: records,
    compressed: false,
  },
  "example-ack": { type: "ack", batchId: 1n },
  "example-fetch": { type: "fetch", topicId: 1, startOffset: 0n, maxBytes: 65536 },
  "example-fetch-response-upstream": { type: "fetchResponse", nextOffset: 20n, recordCount: 1, data: records },
  "example-fetch-response-ours": { type: "fetchResponse", nextOffset: 2n, recordCount: 2, data: records },
  "example-catching-up-upstream": { type: "catchingUp", serverOffset: 20n },
};

describe("docs/protocol.md", () => {
  it("has exactly the checked hex blocks", () => {
    expect([...blocks.keys()].sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))("hex block %s is what the encoder writes and decodes back", (name, message) => {
    const bytes = blocks.get(name)!;
    expect(toHex(encodeMessage(message))).toBe(toHex(bytes));
    expect(decodeMessage(decodeFrame(bytes))).toEqual(message);
  });

  it("shows the standalone cluster status the encoder writes", () => {
    const json = formatClusterStatus({
      mode: "standalone",
      nodeId: 0,
      leaderId: 0,
      isLeader: true,
      currentTerm: 2,
      nodeCount: 1,
      healthyNodes: 1,
      quorumAvailable: true,
      peerStates: {},
      raft: { role: "leader", replicationMode: "l3", commitIndex: 41, appliedIndex: 41, lastIndex: 41, peers: {} },
    });
    expect(doc).toContain(`\n${json}\n`);
  });
});
