import { createServer, type Server, type Socket } from "node:net";
import {
  FrameDecoder,
  TAIL_OFFSET,
  decodeMessage,
  encodeMessage,
  formatClusterStatus,
  formatTopicResponse,
  notLeaderText,
  type ClientMessage,
  type LwpMessage,
  type ServerMessage,
  type TopicInfo,
} from "@lance/protocol";

/** What a handler answers: a reply, several frames, raw bytes, or null for no reply at all. */
export type MockReply = ServerMessage | { raw: Uint8Array } | null;

export interface MockContext {
  /** 0 for the first accepted connection, 1 for the next... */
  connection: number;
  socket: Socket;
}

export type MockHandler = (message: ClientMessage, ctx: MockContext) => MockReply | Promise<MockReply>;

export interface MockServer {
  address: string;
  port: number;
  /** Every request received, in order, with the connection it came on. */
  received: Array<{ connection: number; message: ClientMessage }>;
  connections: number;
  /** Replies written so far. */
  replied: number;
  close(): Promise<void>;
}

/**
 * A tiny LWP server on 127.0.0.1:0 built with @lance/protocol. Per connection, the handler
 * sees one request at a time in arrival order (it may be async), so replies are written
 * strictly in request order.
 */
export async function startMockServer(handler: MockHandler): Promise<MockServer> {
  const sockets = new Set<Socket>();
  const state: MockServer = {
    address: "",
    port: 0,
    received: [],
    connections: 0,
    replied: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.setNoDelay(true);
    const ctx: MockContext = { connection: state.connections++, socket };
    const decoder = new FrameDecoder();
    let chain: Promise<void> = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const message = decodeMessage(frame) as LwpMessage;
        const request = message as ClientMessage;
        state.received.push({ connection: ctx.connection, message: request });
        // One request at a time, in arrival order: replies leave in request order.
        chain = chain.then(async () => {
          const r = await handler(request, ctx);
          if (r === null || socket.destroyed) return;
          socket.write("raw" in r ? r.raw : encodeMessage(r));
          state.replied++;
        });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  state.port = addr.port;
  state.address = `127.0.0.1:${addr.port}`;
  return state;
}

interface StoredBatch {
  base: bigint;
  count: number;
  payload: Uint8Array;
}

/**
 * An in-memory log with our server's semantics (docs/protocol.md §9): record offsets, whole
 * batches, a reply never spans a gap, CatchingUp past the end, TAIL_OFFSET = end.
 */
export class MockLog {
  readonly topics = new Map<number, { info: TopicInfo; batches: StoredBatch[]; end: bigint }>();
  private nextId = 1;

  createTopic(name: string): TopicInfo {
    const info: TopicInfo = { id: this.nextId++, name, createdAt: 1_700_000_000, topicEpoch: 1 };
    this.topics.set(info.id, { info, batches: [], end: 0n });
    return info;
  }

  append(topicId: number, payload: Uint8Array, count: number): void {
    const t = this.topics.get(topicId)!;
    if (payload.byteLength === 0) return;
    t.batches.push({ base: t.end, count, payload });
    t.end += BigInt(count);
  }

  /** Drops the batches inside `[from, to)`, leaving a gap (as retention or quarantine would). */
  removeRange(topicId: number, from: bigint, to: bigint): void {
    const t = this.topics.get(topicId)!;
    t.batches = t.batches.filter((b) => b.base + BigInt(b.count) <= from || b.base >= to);
  }

  /** Answers ingest, fetch and topic commands like our server. */
  handle(m: ClientMessage): ServerMessage {
    switch (m.type) {
      case "ingest":
        if (!this.topics.has(m.topicId)) return { type: "errorResponse", message: "Unknown topic" };
        this.append(m.topicId, m.payload.slice(), m.recordCount);
        return { type: "ack", batchId: m.batchId };
      case "fetch":
        return this.fetch(m.topicId, m.startOffset, m.maxBytes);
      case "createTopic": {
        if ([...this.topics.values()].some((t) => t.info.name === m.name)) return { type: "errorResponse", message: `Topic '${m.name}' already exists` };
        return { type: "topicResponse", json: formatTopicResponse({ kind: "topic", topic: this.createTopic(m.name) }) };
      }
      case "createTopicWithRetention": {
        if ([...this.topics.values()].some((t) => t.info.name === m.name)) return { type: "errorResponse", message: `Topic '${m.name}' already exists` };
        const topic = this.createTopic(m.name);
        return { type: "topicResponse", json: formatTopicResponse({ kind: "topic", topic, retention: { maxAgeSecs: m.maxAgeSecs, maxBytes: m.maxBytes } }) };
      }
      case "listTopics":
        return { type: "topicResponse", json: formatTopicResponse({ kind: "topics", topics: [...this.topics.values()].map((t) => t.info) }) };
      case "getTopic": {
        const t = this.topics.get(m.topicId);
        return t ? { type: "topicResponse", json: formatTopicResponse({ kind: "topic", topic: t.info }) } : { type: "errorResponse", message: "Topic not found" };
      }
      case "deleteTopic":
        if (!this.topics.delete(m.topicId)) return { type: "errorResponse", message: `Configuration error: Topic ${m.topicId} not found` };
        return { type: "topicResponse", json: formatTopicResponse({ kind: "deleted", topicId: m.topicId }) };
      case "setRetention":
        if (!this.topics.has(m.topicId)) return { type: "errorResponse", message: `Configuration error: Topic ${m.topicId} not found` };
        return { type: "topicResponse", json: formatTopicResponse({ kind: "retention", topicId: m.topicId, retention: { maxAgeSecs: m.maxAgeSecs, maxBytes: m.maxBytes } }) };
      case "getClusterStatus":
        return {
          type: "clusterStatusResponse",
          json: formatClusterStatus({ mode: "standalone", nodeId: 0, leaderId: 0, isLeader: true, currentTerm: 0, nodeCount: 1, healthyNodes: 1, quorumAvailable: true, peerStates: {} }),
        };
      case "keepalive":
        return { type: "keepalive" };
      default:
        return { type: "errorResponse", message: "Invalid client command" };
    }
  }

  private fetch(topicId: number, start: bigint, maxBytes: number): ServerMessage {
    const t = this.topics.get(topicId);
    if (!t) return { type: "errorResponse", message: `Topic ${topicId} not found` };
    if (start === TAIL_OFFSET) return { type: "fetchResponse", nextOffset: t.end, recordCount: 0, data: new Uint8Array(0) };
    if (start > t.end) return { type: "catchingUp", serverOffset: t.end };
    const i = t.batches.findIndex((b) => b.base + BigInt(b.count) > start);
    if (i < 0 || maxBytes === 0) return { type: "fetchResponse", nextOffset: start, recordCount: 0, data: new Uint8Array(0) };
    const picked: StoredBatch[] = [];
    let bytes = 0;
    for (let j = i; j < t.batches.length; j++) {
      const b = t.batches[j]!;
      const prev = picked[picked.length - 1];
      if (prev && prev.base + BigInt(prev.count) !== b.base) break; // never span a gap
      if (picked.length > 0 && bytes + b.payload.byteLength > maxBytes) break;
      picked.push(b);
      bytes += b.payload.byteLength;
    }
    const data = new Uint8Array(bytes);
    let at = 0;
    for (const b of picked) {
      data.set(b.payload, at);
      at += b.payload.byteLength;
    }
    const last = picked[picked.length - 1]!;
    const count = picked.reduce((n, b) => n + b.count, 0);
    return { type: "fetchResponse", nextOffset: last.base + BigInt(last.count), recordCount: count, data };
  }
}

export { notLeaderText };
