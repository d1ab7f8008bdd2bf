import type { RaftConfig } from "./config.js";
import { RaftError } from "./errors.js";
import { Raft } from "./raft.js";
import { hardStateEqual, type Entry, type HardState, type Message, type NodeId, type PeerProgress, type Ready, type Status } from "./types.js";

const URGENT: ReadonlySet<Message["type"]> = new Set(["heartbeat", "heartbeatResp"]);

/**
 * The host's handle on one Raft node. Drive it with tick(), step(), propose(); whenever
 * hasReady(), take ready(), carry it out in the documented order, then advance(ready).
 */
export class RawNode {
  private readonly raft: Raft;
  private prevHard: HardState;
  private outstanding: Ready | null = null;
  /** The hard state as of the last advance(): what the host has made durable. */
  private stableHard: HardState;

  private readonly earlyAppends: boolean;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.earlyAppends = config.earlyAppends ?? false;
    this.prevHard = config.storage.initialState();
    this.stableHard = this.prevHard;
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  /** Appends `data` to the log. Throws LNC_RAFT_NOT_LEADER (naming the known leader) on a non-leader. */
  propose(data: Uint8Array): { index: number; term: number } {
    return this.raft.propose(data);
  }

  /**
   * Graceful hand-over (TimeoutNow) to `to`, by default the follower holding the most of the log:
   * proposals throw LNC_RAFT_TRANSFER_IN_PROGRESS until it leads, or until an election timeout
   * passes and this node leads on.
   */
  transferLeadership(to?: NodeId): void {
    this.raft.transferLeadership(to);
  }

  /** Starts an election immediately (pre-vote first when enabled). */
  campaign(): void {
    this.raft.campaign();
  }

  status(): Status {
    return this.raft.status();
  }

  /** Leader only: each voter's replication progress (empty map on other roles). */
  progress(): Map<NodeId, PeerProgress> {
    return this.raft.progress();
  }

  /** The node's term of entry `index`, when it still holds it. */
  termAt(index: number): number | undefined {
    return this.raft.log.term(index);
  }

  /**
   * Heartbeats and heartbeat answers, taken out of the next Ready so the host may send them at
   * once, even while it is still persisting the current Ready. They promise nothing about this
   * node's disk (a heartbeat's commit index only counts acknowledgements of persisted entries),
   * so "persist before send" does not hold them back — unless this node's term or vote changed
   * and is not durable yet: then nothing is returned. A leader that must wait for a long fsync
   * keeps its followers' election timers quiet this way, and a follower busy persisting still
   * answers the leader's check-quorum.
   */
  takeUrgentMessages(): Message[] {
    const hs = this.raft.hardState();
    if (hs.term !== this.stableHard.term || hs.vote !== this.stableHard.vote) return [];
    return this.raft.takeMessagesOf(URGENT);
  }

  /**
   * Committed entries already on this node's disk that no Ready has handed out yet. The host
   * may apply them at once — also while a Ready is outstanding (being persisted) — as long as
   * it applies them after the committed entries of the Ready before them and before those of
   * any later Ready. They are durable on a majority and nothing can change them; on a leader
   * this is what lets an acknowledgement arriving during its fsync be applied (and the client
   * answered) without waiting for that fsync.
   */
  takeCommittedStable(): Entry[] {
    const log = this.raft.log;
    if (log.pendingSnapshot !== null) return [];
    const handedOut = Math.max(log.applied, this.outstanding?.committedEntries[this.outstanding.committedEntries.length - 1]?.index ?? 0);
    const from = Math.max(handedOut + 1, log.firstIndex());
    const to = Math.min(log.committed, log.stableLastIndex());
    if (from > to) return [];
    const entries = log.entries(from, to + 1);
    log.appliedTo(to);
    return entries;
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const log = this.raft.log;
    return (
      !hardStateEqual(this.raft.hardState(), this.prevHard) ||
      this.raft.hasPendingOutput() ||
      log.unstableEntries().length > 0 ||
      log.pendingSnapshot !== null ||
      log.applied < log.committed
    );
  }

  ready(): Ready {
    if (this.outstanding !== null) throw new RaftError("LNC_RAFT_READY_PENDING", "advance() the previous Ready first");
    const hs = this.raft.hardState();
    const log = this.raft.log;
    let messages = this.raft.takeMessages();
    let earlyMessages: Message[] = [];
    // A leader's appends may leave before its own fsync, unless its term or vote is not durable yet.
    if (this.earlyAppends && this.raft.role === "leader" && hs.term === this.stableHard.term && hs.vote === this.stableHard.vote) {
      earlyMessages = messages.filter((m) => m.type === "app");
      if (earlyMessages.length > 0) messages = messages.filter((m) => m.type !== "app");
    }
    const rd: Ready = {
      earlyMessages,
      hardState: hardStateEqual(hs, this.prevHard) ? null : hs,
      entries: log.unstableEntries(),
      snapshotChunks: this.raft.takeChunks(),
      snapshot: log.pendingSnapshot,
      messages,
      committedEntries: log.nextCommittedEntries(),
    };
    this.prevHard = hs;
    this.outstanding = rd;
    return rd;
  }

  /** The host has carried out `rd`: everything in it is durable, sent and applied. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", "advance() takes the Ready last returned by ready()");
    const log = this.raft.log;
    if (rd.snapshot !== null) log.stableSnapTo(rd.snapshot.index);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) {
      log.stableTo(last.index, last.term);
      this.raft.selfPersisted(log.stableLastIndex());
    }
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    if (applied !== undefined) log.appliedTo(applied.index);
    if (rd.hardState !== null) this.stableHard = rd.hardState;
    this.outstanding = null;
  }
}
