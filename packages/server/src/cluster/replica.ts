import { randomInt } from "node:crypto";
import { RawNode, isRaftError, type Entry, type Message, type NodeId, type Ready, type SnapshotMeta, type Status } from "@lance/raft";
import { LanceError } from "@lance/segment-format";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { encodeCommand, type Command } from "./commands.js";
import type { ReplicaLog } from "./replica-log.js";
import { SnapshotStaging, finishSnapshotInstall, swapInSnapshot, unpackSnapshot } from "./snapshot.js";
import type { ApplyResult, StateMachine } from "./state-machine.js";

/** What the replica needs from the node-to-node transport (cluster/transport.ts). */
export interface PeerTransport {
  send(to: number, msg: unknown): boolean;
  isConnected(id: number): boolean;
  peerInfo(id: number): Record<string, unknown> | undefined;
}

export interface ReplicaConfig {
  nodeId: NodeId;
  /** Every voter, this node included; the same list on every node. */
  voters: NodeId[];
  /** L3: a write is acknowledged once committed (majority) and applied; L1: once on the leader's disk. */
  mode: "l1" | "l3";
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  /** A write neither committed nor lost by then is answered with a retryable error. */
  proposalTimeoutMs: number;
  /** Entry bytes kept in memory behind a checkpoint, so slightly lagging followers catch up without a snapshot. */
  keepLogBytes: number;
  dataDir: string;
  /** Verifies an unpacked topic directory before a snapshot may replace the live one. */
  verifyTopic: (dir: string) => void;
}

/** Why a write cannot be proposed here, and what the client should do. */
export type WriteRefusal =
  | { kind: "notLeader"; leader: NodeId }
  | { kind: "catchingUp"; term: number }
  | { kind: "noLeader"; reachable: number };

/** Bytes this node may have proposed and not yet persisted; past it, writes wait their turn. */
const MAX_UNPERSISTED_BYTES = 4 * 1024 * 1024;

interface Waiter {
  term: number;
  ack: "applied" | "durable";
  bytes: number;
  since: number;
  resolve: (r: ApplyResult) => void;
  reject: (err: Error) => void;
}

/**
 * Drives one Raft node (design D4): ticks it, feeds it peers' messages and client proposals,
 * and carries out each Ready in the order the contract demands — stage snapshot chunks, install
 * a snapshot, append entries to the WAL and persist the hard state (waiting for fdatasync),
 * only then send messages, then apply committed entries to the segments.
 *
 * A single-voter group (standalone) runs exactly the same code without a transport.
 */
export class Replica {
  private node: RawNode | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private again = false;
  private readonly waiters = new Map<number, Waiter>();
  /** Writes not yet handed to Raft (see proposeQueued). */
  private readonly queued: Array<{ data: Uint8Array; ack: Waiter["ack"]; bytes: number; resolve: Waiter["resolve"]; reject: Waiter["reject"] }> = [];
  private unpersistedBytes = 0;
  private waitingBytes = 0;
  private failure: Error | null = null;
  /** Term in which this node, as leader, has applied everything before its own no-op. */
  private writableTerm = 0;
  private leaderlessTicks = 0;
  private proposalTimeoutMs: number;
  private rejoining = false;
  private lastLeader: NodeId | null = null;
  private quorumLostLogged = false;
  private ticks = 0;
  private readonly staging: SnapshotStaging;
  /** True while the Ready loop waits for this node's writes (see takeCommittedStable). */
  private persisting = false;
  private applyChain: Promise<void> = Promise.resolve();

  /** Called when this node becomes able to accept writes as leader (offsets must be recomputed). */
  onWritable: (() => void) | null = null;

  constructor(
    private readonly cfg: ReplicaConfig,
    private readonly log: ReplicaLog,
    private readonly sm: StateMachine,
    private readonly transport: PeerTransport | null,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.staging = new SnapshotStaging(cfg.dataDir);
    this.proposalTimeoutMs = cfg.proposalTimeoutMs;
  }

  start(): void {
    this.node = new RawNode({
      id: this.cfg.nodeId,
      voters: this.cfg.voters,
      storage: this.log,
      seed: randomInt(2 ** 31),
      // Used only on an empty disk; grows from one replacement of a node to the next.
      diskId: Date.now(),
      applied: this.sm.applied,
      electionTick: this.cfg.electionTick,
      heartbeatTick: this.cfg.heartbeatTick,
      // At most 16 MiB of appends in flight to a follower: it persists what arrives in one
      // fsync before it answers (heartbeats included), and must answer within an election
      // timeout or the leader's check-quorum steps down.
      maxBytesPerMsg: 1024 * 1024,
      maxInflightMsgs: 16,
      // The leader replicates while it writes its own copy (it counts itself once persisted).
      earlyAppends: true,
    });
    this.log.setSnapshotProvider({ capture: (i, t) => this.sm.capture(i, t), applied: () => this.sm.applied });
    this.rejoining = this.node.status().rejoining;
    if (this.rejoining && this.cfg.voters.length > 1) {
      this.logger.info({ node: this.cfg.nodeId }, "empty disk: rejoining the cluster (no vote until every peer has answered and the log is caught up; the data arrives from the leader)");
    }
    if (this.cfg.voters.length === 1) this.node.campaign();
    this.timer = setInterval(() => this.tick(), this.cfg.tickMs);
    this.kick();
  }

  get started(): boolean {
    return this.node !== null;
  }

  private get raft(): RawNode {
    if (!this.node) throw new LanceError("LNC_NOT_STARTED", "replica not started");
    return this.node;
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Payload bytes of writes proposed and not yet acknowledged. */
  get inFlightBytes(): number {
    return this.waitingBytes;
  }

  status(): Status {
    return this.raft.status();
  }

  progress() {
    return this.raft.progress();
  }

  /** Whether a leader is known (not: whether it is reachable right now). */
  hasLeader(): boolean {
    return this.node?.status().leader != null;
  }

  /** True once leaderless for longer than an election could take: the node reports lost quorum. */
  get quorumLost(): boolean {
    return this.quorumLostLogged;
  }

  /** Null if a write may be proposed here now. */
  writeRefusal(): WriteRefusal | null {
    const s = this.raft.status();
    if (s.role === "leader") return this.writableTerm === s.term ? null : { kind: "catchingUp", term: s.term };
    if (s.leader !== null) return { kind: "notLeader", leader: s.leader };
    return { kind: "noLeader", reachable: 1 + this.cfg.voters.filter((v) => v !== this.cfg.nodeId && this.transport?.isConnected(v)).length };
  }

  /**
   * Proposes a command; resolves with its result once applied (or, with ack "durable", once the
   * entry is on this leader's disk). Rejects if the entry is lost in a leader change, and with a
   * retryable error if it is neither committed nor lost within the proposal timeout.
   */
  propose(cmd: Command, ack: "applied" | "durable", bytes: number): Promise<ApplyResult> {
    if (this.failure) return Promise.reject(this.failure);
    const data = encodeCommand(cmd);
    if (this.queued.length === 0 && (this.unpersistedBytes === 0 || this.unpersistedBytes + data.byteLength <= MAX_UNPERSISTED_BYTES)) {
      let proposed: { index: number; term: number };
      try {
        proposed = this.raft.propose(data);
      } catch (err) {
        // Leadership moved (or is being handed over) since the caller checked: retryable.
        if (isRaftError(err)) throw new LanceError("LNC_WRITE_REFUSED", `FORWARD_FAILED: ${err.message}; retry`, { cause: err });
        throw err;
      }
      const { index, term } = proposed;
      this.unpersistedBytes += data.byteLength;
      return new Promise<ApplyResult>((resolve, reject) => {
        this.wait(index, { term, ack, bytes, since: this.ticks, resolve, reject });
        this.waitingBytes += bytes;
        this.kick();
      });
    }
    return new Promise<ApplyResult>((resolve, reject) => {
      this.queued.push({ data, ack, bytes, resolve, reject });
      this.waitingBytes += bytes;
    });
  }

  /**
   * Proposes queued writes while what this node has proposed but not yet persisted stays under
   * MAX_UNPERSISTED_BYTES. A Ready's messages (heartbeats included) leave only after its
   * entries are on disk, so an unbounded Ready — everything proposed during one long fsync —
   * would silence the leader for longer than an election timeout.
   */
  private proposeQueued(): void {
    while (this.queued.length > 0 && (this.unpersistedBytes === 0 || this.unpersistedBytes + this.queued[0]!.data.byteLength <= MAX_UNPERSISTED_BYTES)) {
      const q = this.queued.shift()!;
      let proposed: { index: number; term: number };
      try {
        proposed = this.raft.propose(q.data);
      } catch {
        this.waitingBytes -= q.bytes;
        q.reject(new LanceError("LNC_WRITE_LOST", "FORWARD_FAILED: leadership moved before this write was proposed; retry"));
        continue;
      }
      this.unpersistedBytes += q.data.byteLength;
      this.wait(proposed.index, { term: proposed.term, ack: q.ack, bytes: q.bytes, since: this.ticks, resolve: q.resolve, reject: q.reject });
      this.kick();
    }
  }

  /** A message from a peer's transport. */
  step(from: number, raw: unknown): void {
    const m = raw as Message;
    if (this.failure) return;
    if (!this.node || typeof m !== "object" || m === null || m.from !== from || m.to !== this.cfg.nodeId || !this.cfg.voters.includes(from)) {
      this.metrics.errors.inc({ type: "peer_message" });
      return;
    }
    try {
      this.node.step(m);
    } catch (err) {
      this.metrics.errors.inc({ type: "peer_message" });
      this.logger.warn({ from, type: m.type, err: (err as Error).message }, "peer message refused");
      return;
    }
    this.sendUrgent();
    // An acknowledgement that commits entries already on disk while this node's Ready loop
    // waits for an fsync: apply them (and answer their clients) now rather than after it.
    if (this.persisting) {
      const entries = this.node.takeCommittedStable();
      if (entries.length > 0) void this.applyInOrder(entries).catch((err: unknown) => this.fail(err));
    }
    this.kick();
  }

  /** Hands leadership to the most caught-up follower (graceful shutdown); resolves when it moved or after `timeoutMs`. */
  async transferLeadership(timeoutMs: number): Promise<boolean> {
    if (!this.node || this.cfg.voters.length === 1 || this.node.status().role !== "leader") return false;
    try {
      this.node.transferLeadership();
    } catch {
      return false;
    }
    this.kick();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.node.status().role !== "leader") return true;
      await new Promise((r) => setTimeout(r, this.cfg.tickMs));
    }
    return false;
  }

  private tick(): void {
    if (!this.node) return;
    this.ticks++;
    this.node.tick();
    this.sendUrgent();
    this.watchLeader();
    if (this.queued.length > 0 && this.raft.status().role !== "leader") this.proposeQueued();
    if (this.ticks % 10 === 0) this.expireWaiters();
    this.kick();
  }

  /** Heartbeats and their answers go out now, not after the Ready being persisted (RawNode.takeUrgentMessages). */
  private sendUrgent(): void {
    if (!this.transport) return;
    for (const m of this.node!.takeUrgentMessages()) this.transport.send(m.to, m);
  }

  /** Runs the Ready loop unless it is already running (then it goes round once more). */
  private kick(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      // A kick between the loop's last check and now would otherwise wait for the next tick.
      if (this.again && !this.failure) this.kick();
    });
  }

  private async pump(): Promise<void> {
    const node = this.raft;
    try {
      do {
        this.again = false;
        while (node.hasReady() && !this.failure) {
          const rd = node.ready();
          // Committed entries already on this node's disk are applied first: they are durable on
          // a majority, so nothing this Ready writes can change them, and an L3 ack then does not
          // wait for this Ready's fsync (a leader's commits always arrive this way).
          const onDisk = Math.min(this.log.lastIndex(), (rd.entries[0]?.index ?? Infinity) - 1);
          const split = rd.committedEntries.findIndex((e) => e.index > onDisk);
          const early = split < 0 ? rd.committedEntries : rd.committedEntries.slice(0, split);
          const late = split < 0 ? [] : rd.committedEntries.slice(split);
          for (const m of rd.earlyMessages) this.transport?.send(m.to, m);
          if (early.length > 0) await this.applyInOrder(early);
          this.persisting = true;
          try {
            await this.persist(rd);
          } finally {
            this.persisting = false;
          }
          for (const m of rd.messages) this.transport?.send(m.to, m);
          if (late.length > 0) await this.applyInOrder(late);
          await this.applyChain;
          node.advance(rd);
        }
        this.checkWritable();
      } while (this.again && !this.failure);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Step 1 of a Ready: everything that must be on disk before its messages leave. */
  private async persist(rd: Ready): Promise<void> {
    if (rd.snapshotChunks.length > 0) {
      for (const c of rd.snapshotChunks) this.staging.write(c.meta, c.offset, c.data);
      this.staging.sync();
    }
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    const first = rd.entries[0];
    if (first !== undefined) {
      const replaced = this.log.suffixFrom(first.index);
      if (replaced.length > 0) this.divergent(replaced, "log suffix replaced by the new leader's");
      const started = process.hrtime.bigint();
      await this.log.append(rd.entries);
      this.metrics.walSyncSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      let persisted = 0;
      for (const e of rd.entries) persisted += e.data.byteLength;
      this.unpersistedBytes = Math.max(0, this.unpersistedBytes - persisted);
      this.ackDurable(rd.entries);
      this.proposeQueued();
    }
    if (rd.hardState) await this.log.setHardState(rd.hardState);
  }

  /** L1 writes are acknowledged once the leader's own fdatasync covers them. */
  private ackDurable(entries: readonly Entry[]): void {
    for (const e of entries) {
      const w = this.waiters.get(e.index);
      if (!w || w.ack !== "durable") continue;
      this.settle(e.index, w);
      if (w.term === e.term) w.resolve({ kind: "ok" });
      else w.reject(lostError(e.index));
    }
  }

  private divergent(replaced: readonly Entry[], why: string): void {
    try {
      this.sm.saveDivergent(replaced, why);
    } catch (err) {
      // Never lose it silently: without a place to keep it, stop taking part.
      throw new LanceError("LNC_DIVERGENT_SAVE_FAILED", `cannot save the replaced log suffix to ${this.cfg.dataDir}/divergent: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Applies batches strictly one after the other, in the order they were handed out. */
  private applyInOrder(entries: readonly Entry[]): Promise<void> {
    const done = this.applyChain.then(() => this.applyCommitted(entries));
    this.applyChain = done.catch(() => undefined);
    return done;
  }

  private async applyCommitted(entries: readonly Entry[]): Promise<void> {
    const results = await this.sm.apply(entries);
    for (const e of entries) {
      const w = this.waiters.get(e.index);
      if (!w) continue;
      this.settle(e.index, w);
      if (w.term !== e.term) w.reject(lostError(e.index));
      else w.resolve(results.get(e.index) ?? { kind: "ok" });
    }
  }

  /**
   * Registers the waiter of a fresh proposal. A waiter still at that index belongs to an entry
   * of an earlier term that this leader's log has replaced (this node lost leadership and won
   * it back before that index was applied): that write is lost.
   */
  private wait(index: number, w: Waiter): void {
    const old = this.waiters.get(index);
    if (old) {
      this.settle(index, old);
      old.reject(lostError(index));
    }
    this.waiters.set(index, w);
  }

  private settle(index: number, w: Waiter): void {
    this.waiters.delete(index);
    this.waitingBytes -= w.bytes;
  }

  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const { index, term } = meta;
    const started = Date.now();
    this.staging.closeFd();
    this.logger.info({ index, term, bytes: meta.size }, "installing snapshot from the leader");
    unpackSnapshot(this.cfg.dataDir, this.staging.stagedPath, meta, this.cfg.verifyTopic);
    await this.sm.topics.closeAll();
    swapInSnapshot(this.cfg.dataDir);
    await this.log.installSnapshot(meta);
    finishSnapshotInstall(this.cfg.dataDir);
    await this.sm.reload(index);
    this.metrics.snapshotsInstalled.inc();
    this.logger.info({ index, term, topics: this.sm.topics.list().length, ms: Date.now() - started }, "snapshot installed");
  }

  /** A leader may take writes once its no-op (and so every earlier entry) is applied. */
  private checkWritable(): void {
    const s = this.raft.status();
    if (s.role !== "leader") {
      this.writableTerm = 0;
      return;
    }
    if (this.writableTerm !== s.term && s.applied >= s.commit && this.raft.termAt(s.applied) === s.term) {
      this.writableTerm = s.term;
      this.onWritable?.();
      this.logger.info({ term: s.term, applied: s.applied }, "leader: accepting writes");
    }
  }

  private watchLeader(): void {
    const s = this.raft.status();
    if (s.leader !== this.lastLeader) {
      this.lastLeader = s.leader;
      this.metrics.leaderChanges.inc();
    }
    if (this.rejoining && !s.rejoining) {
      this.rejoining = false;
      this.logger.info({ term: s.term, leader: s.leader }, "rejoined the cluster: voting again");
    }
    if (s.leader !== null) {
      if (this.quorumLostLogged) this.logger.info({ leader: s.leader, term: s.term }, "Quorum restored, accepting writes through the leader");
      this.quorumLostLogged = false;
      this.leaderlessTicks = 0;
      return;
    }
    // An election normally ends within two election timeouts; past that the majority is gone.
    if (++this.leaderlessTicks === 4 * this.cfg.electionTick && this.cfg.voters.length > 1) {
      this.quorumLostLogged = true;
      const refusal = this.writeRefusal();
      this.logger.warn({ term: s.term, reachable: refusal?.kind === "noLeader" ? refusal.reachable : null, nodes: this.cfg.voters.length }, "Quorum lost, entering read-only mode");
    }
  }

  /** Shutting down: writes still waiting get at most `ms` more before a retryable error. */
  hurryWaiters(ms: number): void {
    this.proposalTimeoutMs = Math.min(this.proposalTimeoutMs, ms);
  }

  private expireWaiters(): void {
    const limit = Math.ceil(this.proposalTimeoutMs / this.cfg.tickMs);
    for (const [index, w] of this.waiters) {
      if (this.ticks - w.since < limit) break;
      this.settle(index, w);
      w.reject(new LanceError("LNC_WRITE_TIMEOUT", `NO_QUORUM: FORWARD_FAILED: write not committed within ${this.proposalTimeoutMs} ms (no majority reachable?); it may still be applied later`));
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    // Out of the group for good (until a restart): no ticks, no heartbeats, no answers, so
    // the other nodes elect a leader without this one.
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const why = err instanceof Error ? err.message : String(err);
    this.failure = new LanceError("LNC_WRITE_PATH_FAILED", `write path failed, restart the server (the WAL replays what was acknowledged): ${why}`, { cause: err });
    this.logger.error({ err: why }, "replica failed; rejecting writes until restart");
    this.metrics.errors.inc({ type: "io" });
    for (const [index, w] of this.waiters) {
      this.settle(index, w);
      w.reject(this.failure);
    }
    for (const q of this.queued.splice(0)) {
      this.waitingBytes -= q.bytes;
      q.reject(this.failure);
    }
  }

  /** The segments hold everything through `index` durably: let the log behind it go. */
  async checkpoint(index: number, keepLogBytes: number): Promise<void> {
    if (this.failure) return;
    await this.log.checkpoint(index, keepLogBytes);
  }

  /**
   * Stopping without a leader (a minority, runbook 6.1 "stop nodes in the stale partition"):
   * entries past the commit index may have been acknowledged (L1) and may never commit. They
   * stay in the WAL, but an operator is about to export and wipe this node, so they are also
   * written to divergent/ where `lnc export-topic --divergent` finds them.
   */
  private keepUnconfirmedTail(): void {
    if (!this.node || this.failure || this.cfg.voters.length === 1) return;
    const s = this.node.status();
    if (s.leader !== null) return;
    const tail = this.log.suffixFrom(s.commit + 1);
    if (tail.length === 0) return;
    this.logger.warn({ from: tail[0]!.index, to: tail[tail.length - 1]!.index, commit: s.commit }, "stopping without a leader: log entries not confirmed by a majority are also kept in divergent/");
    this.divergent(tail, "stopped without a leader; entries not confirmed by a majority");
  }

  /** Waits for the Ready loop to go idle. */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.idle();
    this.keepUnconfirmedTail();
    this.staging.closeFd();
    this.log.close();
  }
}

function lostError(index: number): Error {
  return new LanceError("LNC_WRITE_LOST", `FORWARD_FAILED: write at log index ${index} was replaced in a leader change and not stored; retry`);
}
