import type { RaftConfig } from "./config.js";
import { RaftError } from "./errors.js";
import { Raft } from "./raft.js";
import { hardStateEqual, type HardState, type Message, type NodeId, type PeerProgress, type Ready, type Status } from "./types.js";

/**
 * The host's handle on one Raft node. Drive it with tick(), step(), propose(); whenever
 * hasReady(), take ready(), carry it out in the documented order, then advance(ready).
 */
export class RawNode {
  private readonly raft: Raft;
  private prevHard: HardState;
  private outstanding: Ready | null = null;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevHard = config.storage.initialState();
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
    const rd: Ready = {
      hardState: hardStateEqual(hs, this.prevHard) ? null : hs,
      entries: log.unstableEntries(),
      snapshotChunks: this.raft.takeChunks(),
      snapshot: log.pendingSnapshot,
      messages: this.raft.takeMessages(),
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
    if (last !== undefined) log.stableTo(last.index, last.term);
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    if (applied !== undefined) log.appliedTo(applied.index);
    this.outstanding = null;
  }
}
