import { ErrorPrefix, noQuorumText, notLeaderText } from "@lance/protocol";
import { LanceError } from "@lance/segment-format";
import type { Replica, WriteRefusal } from "./cluster/replica.js";
import type { ApplyResult, StateMachine } from "./cluster/state-machine.js";
import type { Topic, Retention } from "./topic-registry.js";

export interface IngestRequest {
  payload: Uint8Array;
  recordCount: number;
  timestampNs: bigint;
  flags: number;
}

export interface WritePathOptions {
  mode: "l1" | "l3";
  /** Entry bytes kept in memory behind a checkpoint (see ReplicaLog.checkpoint). */
  keepLogBytes: number;
  /** The client address (`host:port`) clients should be sent to for node `id`, when known. */
  clientAddressOf: (id: number) => string | null;
}

/**
 * Every write, on every deployment, is a Raft entry (design D3, D4): the leader gives an ingest
 * its offsets, proposes it, and answers once the entry is committed and applied (L3), or once
 * it is on the leader's disk (L1; with a single node both are the same). Topic changes are
 * entries too. A node that cannot take a write says why in the protocol's terms: NOT_LEADER
 * naming the leader's client address, NO_QUORUM, or a retryable FORWARD_FAILED.
 */
export class WritePath {
  private nextTopicId = 0;
  private checkpointing: Promise<void> | null = null;

  constructor(
    private readonly replica: Replica,
    private readonly sm: StateMachine,
    private readonly opts: WritePathOptions,
  ) {
    replica.onWritable = () => this.resetAssigned();
  }

  /** Bytes accepted but not yet acknowledged. */
  get inFlightBytes(): number {
    return this.replica.inFlightBytes;
  }

  get failed(): Error | null {
    return this.replica.failed;
  }

  /** A new leader has applied its whole log: offsets and ids continue from what is stored. */
  private resetAssigned(): void {
    for (const t of this.sm.topics.all()) t.assigned = t.writer.nextOffset;
    this.nextTopicId = this.sm.topics.nextId();
  }

  private refuse(r: WriteRefusal): never {
    switch (r.kind) {
      case "notLeader": {
        const addr = this.opts.clientAddressOf(r.leader);
        throw new LanceError("LNC_NOT_LEADER", addr ? notLeaderText(addr) : `${ErrorPrefix.ForwardFailed}leader ${r.leader} has not told its client address yet; retry`);
      }
      case "catchingUp":
        throw new LanceError("LNC_LEADER_CATCHING_UP", `${ErrorPrefix.ForwardFailed}this node just became leader (term ${r.term}) and is applying its log; retry`);
      case "noLeader":
        throw new LanceError("LNC_NO_QUORUM", noQuorumText(`no leader: this node reaches ${r.reachable} node(s) including itself, a majority is needed to elect one; writes are refused until then`));
    }
  }

  /**
   * Throws the protocol error for a write this node cannot take now. The broker asks before it
   * looks the topic up: a follower that has not applied a topic's creation yet must still
   * redirect to the leader rather than answer "Unknown topic".
   */
  assertWritable(): void {
    const refusal = this.replica.writeRefusal();
    if (refusal) this.refuse(refusal);
  }

  private propose(cmd: Parameters<Replica["propose"]>[0], ack: "applied" | "durable", bytes: number): Promise<ApplyResult> {
    this.assertWritable();
    return this.replica.propose(cmd, ack, bytes);
  }

  async ingest(topic: Topic, req: IngestRequest): Promise<void> {
    this.assertWritable();
    const baseOffset = topic.assigned;
    const result = this.replica.propose(
      { kind: "ingest", entry: { topicId: topic.meta.id, baseOffset, ...req } },
      this.opts.mode === "l1" ? "durable" : "applied",
      req.payload.byteLength,
    );
    topic.assigned = baseOffset + req.recordCount;
    unwrap(await result);
  }

  async createTopic(name: string, retention: Retention | null): Promise<Topic> {
    this.sm.topics.checkCreate(name);
    const id = Math.max(this.nextTopicId, this.sm.topics.nextId());
    this.nextTopicId = id + 1;
    const r = unwrap(await this.propose({ kind: "createTopic", name, id, createdAt: Math.floor(Date.now() / 1000), retention: retention && { maxAgeSecs: retention.maxAgeSecs ?? 0, maxBytes: retention.maxBytes ?? 0 } }, "applied", 0));
    if (r.kind !== "topic") throw new LanceError("LNC_INTERNAL", `create of ${name} applied without a topic`);
    return r.topic;
  }

  async deleteTopic(topic: Topic): Promise<void> {
    unwrap(await this.propose({ kind: "deleteTopic", topicId: topic.meta.id }, "applied", 0));
  }

  async setRetention(topic: Topic, retention: { maxAgeSecs: number; maxBytes: number }): Promise<void> {
    unwrap(await this.propose({ kind: "setRetention", topicId: topic.meta.id, retention }, "applied", 0));
  }

  /** A consumer's committed offset, the same on every node. */
  async commitOffset(topic: Topic, consumerId: bigint, offset: bigint): Promise<void> {
    unwrap(await this.propose({ kind: "commitOffset", topicId: topic.meta.id, consumerId: consumerId.toString(), offset: offset.toString() }, "applied", 0));
  }

  /** Resolves once every write accepted so far is answered, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.replica.inFlightBytes > 0 && !this.replica.failed) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.replica.idle();
    return true;
  }

  /**
   * Fsyncs every topic changed since the last checkpoint (segments, `.idx`, catalog), then lets
   * the WAL recycle what lies behind it.
   */
  checkpoint(): Promise<void> {
    this.checkpointing ??= this.doCheckpoint().finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  private async doCheckpoint(): Promise<void> {
    if (this.replica.failed) return;
    const upTo = await this.sm.syncSegments();
    await this.replica.checkpoint(upTo, this.opts.keepLogBytes);
  }
}

function unwrap(r: ApplyResult): ApplyResult {
  if (r.kind === "error") throw new LanceError("LNC_APPLY_FAILED", r.message);
  return r;
}
