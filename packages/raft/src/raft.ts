import { resolveConfig, type RaftConfig, type ResolvedConfig } from "./config.js";
import { RaftError } from "./errors.js";
import { RaftLog } from "./log.js";
import { Progress } from "./progress.js";
import { createRng, randInt, type Rng } from "./rng.js";
import { EMPTY_HARD_STATE, hardStateEqual, type PeerProgress } from "./types.js";
import type {
  AppendMessage,
  AppendResponseMessage,
  Entry,
  HardState,
  HeartbeatMessage,
  Message,
  NodeId,
  ProbeMessage,
  ProbeResponseMessage,
  Role,
  SnapshotChunk,
  SnapshotMessage,
  SnapshotResponseMessage,
  Status,
  VoteMessage,
  VoteResponseMessage,
} from "./types.js";

/** A message as Raft builds it: `from` is filled in, `term` defaults to the current term. */
type WithoutSender<M> = M extends Message ? Omit<M, "from" | "term"> & { term?: number } : never;
type Outgoing = WithoutSender<Message>;

/** State a rejoining node gathers: every peer's term and log end, read after this process started. */
interface RejoinState {
  nonce: number;
  replies: Map<NodeId, { term: number; lastIndex: number; lastTerm: number }>;
  probeElapsed: number;
}

/** Receiver side of an InstallSnapshot transfer in progress. */
interface SnapshotReceive {
  index: number;
  term: number;
  next: number;
}

/**
 * The Raft protocol as a deterministic state machine. No clocks, no I/O: the host calls tick(),
 * step() and propose(), and RawNode turns the resulting state into Ready batches.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  term = 0;
  vote: NodeId | null = null;
  lead: NodeId | null = null;
  role: Role = "follower";
  rejoining: boolean;
  readonly diskId: number;
  private readonly peers: NodeId[];
  private readonly quorum: number;
  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private msgs: Message[] = [];
  private chunks: SnapshotChunk[] = [];
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly rng: Rng;
  private rejoin: RejoinState | null = null;
  private snapRecv: SnapshotReceive | null = null;
  /** Leadership transfer in progress: the follower that is to take over, and ticks spent. */
  private transferee: NodeId | null = null;
  private transferElapsed = 0;
  /** Per peer: the newest disk seen, the only one whose acknowledgements count. Process lifetime. */
  private peerDisks = new Map<NodeId, number>();

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.peers = this.cfg.voters.filter((v) => v !== this.id);
    this.quorum = Math.floor(this.cfg.voters.length / 2) + 1;
    this.rng = createRng(this.cfg.seed);
    const storage = this.cfg.storage;
    const hs = storage.initialState();
    this.log = new RaftLog(storage, hs.commit, this.cfg.applied);
    // Nothing at all on disk: not even a rejoining flag or a disk id from an earlier start.
    const blank =
      hardStateEqual(hs, EMPTY_HARD_STATE) && storage.lastIndex() === 0 && storage.snapshot().index === 0;
    this.rejoining = blank || hs.rejoining;
    this.diskId = blank ? this.cfg.diskId || 1 + Math.floor(this.rng() * (2 ** 48 - 1)) : hs.diskId;
    this.becomeFollower(hs.term, null);
    this.vote = hs.vote;
    if (this.rejoining) {
      this.rejoin = { nonce: Math.floor(this.rng() * 2 ** 32) * 2 ** 20 + Math.floor(this.rng() * 2 ** 20), replies: new Map(), probeElapsed: 0 };
      this.maybeFinishRejoin();
      if (this.rejoining) this.sendProbes();
    }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed, rejoining: this.rejoining, diskId: this.diskId };
  }

  status(): Status {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      rejoining: this.rejoining,
    };
  }

  takeMessages(): Message[] {
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  /** Removes and returns the queued messages of the given types, keeping the others in order. */
  takeMessagesOf(types: ReadonlySet<Message["type"]>): Message[] {
    const out: Message[] = [];
    const keep: Message[] = [];
    for (const m of this.msgs) (types.has(m.type) ? out : keep).push(m);
    this.msgs = keep;
    return out;
  }

  takeChunks(): SnapshotChunk[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }

  hasPendingOutput(): boolean {
    return this.msgs.length > 0 || this.chunks.length > 0;
  }

  private send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  // ---- roles -------------------------------------------------------------------------------

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.transferee = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = randInt(this.rng, this.cfg.electionTick, 2 * this.cfg.electionTick);
    this.votes.clear();
    const last = this.log.lastIndex();
    this.prs = new Map();
    for (const v of this.cfg.voters) {
      const pr = new Progress(last + 1, this.cfg.maxInflightMsgs);
      if (v === this.id) pr.match = last;
      this.prs.set(v, pr);
    }
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
  }

  private becomePreCandidate(): void {
    this.votes.clear();
    this.lead = null;
    this.role = "pre-candidate";
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = true;
    const self = this.prs.get(this.id)!;
    self.becomeReplicate();
    self.maybeUpdate(this.log.stableLastIndex());
    this.appendEntries([{ index: 0, term: 0, type: "noop", data: new Uint8Array(0) }]);
  }

  /** Starts an election now (tests, or a host handing over leadership). */
  campaign(preVote = this.cfg.preVote, transfer = false): void {
    if (this.rejoining || this.role === "leader") return;
    let voteTerm: number;
    if (preVote) {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    if (this.poll(this.id, true) === "won") {
      if (preVote) this.campaign(false);
      else this.becomeLeader();
      return;
    }
    const type = preVote ? "preVote" : "vote";
    for (const p of this.peers) {
      this.send({ type, to: p, term: voteTerm, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), transfer });
    }
  }

  private poll(id: NodeId, granted: boolean): "won" | "lost" | "pending" {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    let yes = 0;
    let no = 0;
    for (const g of this.votes.values()) g ? yes++ : no++;
    if (yes >= this.quorum) return "won";
    if (no > this.cfg.voters.length - this.quorum) return "lost";
    return "pending";
  }

  // ---- time --------------------------------------------------------------------------------

  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.rejoin !== null) {
      this.rejoin.probeElapsed++;
      if (this.rejoin.probeElapsed >= this.cfg.heartbeatTick) {
        this.rejoin.probeElapsed = 0;
        this.sendProbes();
      }
    }
    if (!this.rejoining && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign();
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
    }
    if (this.transferee !== null && ++this.transferElapsed >= this.cfg.electionTick) {
      // The target did not take over within an election timeout: lead on.
      this.transferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Check-quorum: did a majority (self included) talk to us during the last election timeout? */
  private quorumActive(): boolean {
    let active = 1;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      if (pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum;
  }

  // ---- proposals -----------------------------------------------------------------------------

  propose(data: Uint8Array): { index: number; term: number } {
    if (this.role !== "leader") {
      throw new RaftError("LNC_RAFT_NOT_LEADER", `node ${this.id} is not the leader`, this.lead);
    }
    if (this.transferee !== null) {
      throw new RaftError("LNC_RAFT_TRANSFER_IN_PROGRESS", `node ${this.id} is handing leadership to ${this.transferee}`, this.transferee);
    }
    const index = this.appendEntries([{ index: 0, term: 0, type: "normal", data }]);
    this.bcastAppend();
    return { index, term: this.term };
  }

  /**
   * Hands leadership to `target` (default: the follower holding the most of the log) for a
   * graceful shutdown: once it holds the whole log it is told to
   * campaign at once (TimeoutNow). Proposals are refused meanwhile; after an election timeout
   * without a new leader this node simply goes on leading.
   */
  transferLeadership(target?: NodeId): void {
    if (this.role !== "leader") throw new RaftError("LNC_RAFT_NOT_LEADER", `node ${this.id} is not the leader`, this.lead);
    const to = target ?? this.mostCaughtUpPeer();
    const pr = this.prs.get(to);
    if (pr === undefined || to === this.id) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `cannot transfer leadership to ${to}`);
    this.transferee = to;
    this.transferElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: "timeoutNow", to });
    else this.sendAppend(to);
  }

  /** The leader's view of each voter's log (empty on a non-leader). */
  progress(): Map<NodeId, PeerProgress> {
    const out = new Map<NodeId, PeerProgress>();
    if (this.role !== "leader") return out;
    for (const [id, pr] of this.prs) out.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive });
    return out;
  }

  private mostCaughtUpPeer(): NodeId {
    let best = this.peers[0];
    for (const p of this.peers) if (this.prs.get(p)!.match > this.prs.get(best!)!.match) best = p;
    if (best === undefined) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", "a single-node group has no one to hand over to");
    return best;
  }

  private appendEntries(ents: Entry[]): number {
    let i = this.log.lastIndex();
    const stamped = ents.map((e) => ({ ...e, index: ++i, term: this.term }));
    // The leader counts itself toward a commit only once its own copy is on disk
    // (selfPersisted): a host may then send these entries before persisting them.
    return this.log.append(stamped);
  }

  /** The host persisted this node's log through `index` (RawNode.advance). */
  selfPersisted(index: number): void {
    if (this.role !== "leader") return;
    if (this.prs.get(this.id)!.maybeUpdate(index) && this.maybeCommit()) this.bcastAppend();
  }

  /** Commit the largest index stored on a majority, but only if it is of the current term (Raft §5.4.2). */
  private maybeCommit(): boolean {
    const matches = [...this.prs.values()].map((p) => p.match).sort((a, b) => b - a);
    const idx = matches[this.quorum - 1]!;
    if (idx > this.log.committed && this.log.term(idx) === this.term) {
      this.log.commitTo(idx);
      return true;
    }
    return false;
  }

  // ---- messages ------------------------------------------------------------------------------

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.type === "probe") return this.handleProbe(m);
    if (m.type === "probeResp") return this.handleProbeResponse(m);
    if (m.from !== this.id && !this.prs.has(m.from)) return;

    if (m.term > this.term) {
      if ((m.type === "vote" || m.type === "preVote") && !m.transfer) {
        // A follower that hears from its leader ignores disruptive candidates (etcd's leader lease).
        const inLease = this.cfg.checkQuorum && this.lead !== null && this.electionElapsed < this.cfg.electionTick;
        if (inLease) return;
      }
      if (m.type === "preVote" || (m.type === "preVoteResp" && !m.reject)) {
        // Pre-vote traffic never changes terms: the request's term is only a proposed one.
      } else if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        // Tell a deposed leader about the newer term so it steps down (it may be cut off from votes).
        this.send({ type: "appResp", to: m.from, index: 0, reject: true, hintIndex: 0, hintTerm: 0, diskId: this.diskId });
      } else if (m.type === "preVote") {
        this.send({ type: "preVoteResp", to: m.from, reject: true });
      }
      return;
    }

    if (m.type === "vote" || m.type === "preVote") return this.handleVote(m);

    switch (this.role) {
      case "leader":
        return this.stepLeader(m);
      case "candidate":
      case "pre-candidate":
        return this.stepCandidate(m);
      case "follower":
        return this.stepFollower(m);
    }
  }

  private handleVote(m: VoteMessage): void {
    const respType = m.type === "vote" ? "voteResp" : "preVoteResp";
    const canVote =
      !this.rejoining &&
      (this.vote === m.from || (this.vote === null && this.lead === null) || (m.type === "preVote" && m.term > this.term));
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote grant answers in the proposed term; a real grant is recorded before it is sent.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined || m.from === this.id) return;
    switch (m.type) {
      case "appResp":
        if (!this.acceptDisk(m.from, m.diskId)) return;
        pr.recentActive = true;
        return this.handleAppendResponse(m, pr);
      case "heartbeatResp":
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === "replicate" && pr.isInflightFull()) pr.freeFirstInflight();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        return;
      case "snapResp":
        pr.recentActive = true;
        return this.handleSnapshotResponse(m, pr);
      default:
        return;
    }
  }

  private handleAppendResponse(m: AppendResponseMessage, pr: Progress): void {
    if (m.reject) {
      let next = m.hintIndex;
      if (m.hintTerm > 0) next = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, next)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    if (pr.state === "probe" && updated) {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") {
      pr.freeInflightsTo(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (updated) {
      while (this.sendAppend(m.from, false)) {}
    }
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.send({ type: "timeoutNow", to: m.from });
  }

  private handleSnapshotResponse(m: SnapshotResponseMessage, pr: Progress): void {
    const s = pr.snapshot;
    if (pr.state !== "snapshot" || s === null || m.snapIndex !== s.meta.index) return;
    const offset = Math.min(m.offset, s.meta.size);
    if (offset > s.acked) {
      s.acked = offset;
      s.sent = Math.max(s.sent, offset);
      s.progressed = true;
      s.rewoundAt = -1;
      s.lowestReport = null;
    } else if (offset === s.acked) {
      // The follower misses the chunk at `offset` (lost or overtaken): go back there, once.
      if (s.sent <= offset || s.rewoundAt === offset) return;
      s.rewoundAt = offset;
      s.sent = offset;
      s.emptySent = false;
    } else {
      // Either a stale report or a follower that lost its staging in a restart; the heartbeat
      // decides (resendSnapshot) if no progress follows.
      s.lowestReport = Math.min(s.lowestReport ?? offset, offset);
      return;
    }
    this.sendSnapshotChunks(m.from, pr);
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        this.becomeFollower(m.term, m.from);
        return this.stepFollower(m);
      case "voteResp":
      case "preVoteResp": {
        const mine = this.role === "pre-candidate" ? "preVoteResp" : "voteResp";
        if (m.type !== mine) return;
        const result = this.poll(m.from, !m.reject);
        if (result === "won") {
          if (this.role === "pre-candidate") this.campaign(false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === "lost") {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case "snap":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case "timeoutNow":
        // Our leader hands over: campaign now, skipping pre-vote (the leader vouches for us).
        if (m.from === this.lead) this.campaign(false, true);
        return;
      default:
        return;
    }
    this.maybeFinishRejoin();
  }

  private handleAppend(m: AppendMessage): void {
    if (m.index < this.log.committed) {
      this.send({ type: "appResp", to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0, diskId: this.diskId });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({ type: "appResp", to: m.from, index: lastNew, reject: false, hintIndex: 0, hintTerm: 0, diskId: this.diskId });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({ type: "appResp", to: m.from, index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term, diskId: this.diskId });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    // Only commit what provably matches the leader's log (the leader's match for us may be stale).
    if (m.commit > this.log.committed && this.log.matchTerm(m.commit, m.commitTerm)) this.log.commitTo(m.commit);
    this.send({ type: "heartbeatResp", to: m.from });
  }

  private handleSnapshot(m: SnapshotMessage): void {
    const meta = m.meta;
    if (meta.index <= this.log.committed) {
      this.snapRecv = null;
      this.send({ type: "appResp", to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0, diskId: this.diskId });
      return;
    }
    const same = this.snapRecv !== null && this.snapRecv.index === meta.index && this.snapRecv.term === meta.term;
    if (!same) {
      if (m.offset !== 0) {
        this.send({ type: "snapResp", to: m.from, snapIndex: meta.index, offset: 0 });
        return;
      }
      this.snapRecv = { index: meta.index, term: meta.term, next: 0 };
    }
    const recv = this.snapRecv!;
    if (m.offset !== recv.next) {
      this.send({ type: "snapResp", to: m.from, snapIndex: meta.index, offset: recv.next });
      return;
    }
    this.chunks.push({ meta, offset: m.offset, data: m.data });
    recv.next += m.data.length;
    if (recv.next < meta.size) {
      this.send({ type: "snapResp", to: m.from, snapIndex: meta.index, offset: recv.next });
      return;
    }
    this.snapRecv = null;
    this.log.restore(meta);
    this.send({ type: "appResp", to: m.from, index: meta.index, reject: false, hintIndex: 0, hintTerm: 0, diskId: this.diskId });
  }

  // ---- leader sending --------------------------------------------------------------------------

  private bcastAppend(): void {
    for (const p of this.peers) this.sendAppend(p);
  }

  private bcastHeartbeat(): void {
    for (const p of this.peers) {
      const pr = this.prs.get(p)!;
      let commit = Math.min(pr.match, this.log.committed);
      let commitTerm = this.log.term(commit);
      if (commitTerm === undefined) {
        commit = 0;
        commitTerm = 0;
      }
      this.send({ type: "heartbeat", to: p, commit, commitTerm });
      const s = pr.snapshot;
      if (pr.state === "snapshot" && s !== null) {
        if (!s.progressed) this.resendSnapshot(p, pr);
        s.progressed = false;
      }
    }
  }

  /** Sends entries from pr.next (or a snapshot if they are compacted). Returns whether a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.startSnapshot(to, pr);
    }
    const entries = limitBytes(this.log.entries(pr.next, pr.next + this.cfg.maxEntriesPerMsg), this.cfg.maxBytesPerMsg);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: "app", to, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    const last = entries[entries.length - 1];
    if (pr.state === "replicate" && last !== undefined) pr.sentEntries(last.index);
    else if (pr.state === "probe") pr.probeSent = true;
    return true;
  }

  private startSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const meta = this.log.storage.snapshot();
    if (meta.index === 0) return false;
    pr.becomeSnapshot(meta);
    this.sendSnapshotChunks(to, pr);
    return true;
  }

  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const s = pr.snapshot;
    if (s === null) return;
    const chunk = this.cfg.snapshotChunkBytes;
    const window = chunk * this.cfg.maxSnapshotChunksInflight;
    while ((s.sent < s.meta.size || (s.meta.size === 0 && !s.emptySent)) && s.sent - s.acked < window) {
      const data = this.log.storage.snapshotChunk(s.meta.index, s.sent, chunk);
      if (data === null) {
        // The host replaced the snapshot meanwhile: send the newer one from the start.
        pr.becomeSnapshot(this.log.storage.snapshot());
        return this.sendSnapshotChunks(to, pr);
      }
      this.send({ type: "snap", to, meta: s.meta, offset: s.sent, data });
      if (data.length === 0) {
        s.emptySent = true;
        break;
      }
      s.sent += data.length;
    }
  }

  /** No ack since the last heartbeat: resend from the acknowledged offset. */
  private resendSnapshot(to: NodeId, pr: Progress): void {
    const s = pr.snapshot!;
    if (s.acked >= s.meta.size && s.meta.size > 0 && s.lowestReport === null) {
      // Everything is staged but the install answer was lost: an empty first chunk makes the
      // follower repeat it (or, if it lost the staging, report offset 0).
      this.send({ type: "snap", to, meta: s.meta, offset: 0, data: new Uint8Array(0) });
      return;
    }
    if (s.lowestReport !== null) s.acked = s.lowestReport;
    s.sent = s.acked;
    s.emptySent = false;
    s.rewoundAt = -1;
    s.lowestReport = null;
    this.sendSnapshotChunks(to, pr);
  }

  // ---- node replacement (empty disk) -------------------------------------------------------------

  private sendProbes(): void {
    const r = this.rejoin;
    if (r === null) return;
    for (const p of this.peers) {
      if (!r.replies.has(p)) {
        this.send({ type: "probe", to: p, term: 0, nonce: r.nonce, diskId: this.diskId, lastIndex: this.log.lastIndex() });
      }
    }
  }

  /**
   * Should an acknowledgement from `from`'s disk `diskId` count? Only if it comes from the
   * newest disk we know of for that node: not from a disk since replaced (a message the old
   * process sent, delivered late), and not yet from a newer one whose probe has not arrived
   * (the probe first resets what we know of the node).
   */
  private acceptDisk(from: NodeId, diskId: number): boolean {
    const known = this.peerDisks.get(from);
    if (known === undefined) {
      this.peerDisks.set(from, diskId);
      return true;
    }
    return known === diskId;
  }

  private handleProbe(m: ProbeMessage): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined || m.from === this.id) return;
    const known = this.peerDisks.get(m.from);
    if (known !== undefined && m.diskId < known) return;
    this.peerDisks.set(m.from, m.diskId);
    if (this.role === "leader") pr.lostData(m.lastIndex);
    this.send({
      type: "probeResp",
      to: m.from,
      term: 0,
      nonce: m.nonce,
      peerTerm: this.term,
      peerLastIndex: this.log.lastIndex(),
      peerLastTerm: this.log.lastTerm(),
    });
  }

  private handleProbeResponse(m: ProbeResponseMessage): void {
    const r = this.rejoin;
    if (r === null || m.nonce !== r.nonce || !this.prs.has(m.from) || m.from === this.id) return;
    r.replies.set(m.from, { term: m.peerTerm, lastIndex: m.peerLastIndex, lastTerm: m.peerLastTerm });
    this.maybeFinishRejoin();
  }

  /**
   * A node that lost its disk may have voted in any term up to the highest term any peer had
   * when it restarted, and may have been part of the majority that stored any entry some peer
   * held then. Once every peer has answered a probe sent after the restart, and our log is at
   * least as up to date as every log they reported (so it holds every such committed entry),
   * we may vote again — but never in a term we could have voted in before (docs/raft.md,
   * "Node replacement").
   */
  private maybeFinishRejoin(): void {
    const r = this.rejoin;
    if (r === null || r.replies.size < this.peers.length) return;
    let maxTerm = 0;
    let endTerm = 0;
    let endIndex = 0;
    for (const rep of r.replies.values()) {
      maxTerm = Math.max(maxTerm, rep.term);
      if (rep.lastTerm > endTerm || (rep.lastTerm === endTerm && rep.lastIndex > endIndex)) {
        endTerm = rep.lastTerm;
        endIndex = rep.lastIndex;
      }
    }
    const ourTerm = this.log.lastTerm();
    if (ourTerm < endTerm || (ourTerm === endTerm && this.log.lastIndex() < endIndex)) return;
    if (this.term < maxTerm) this.becomeFollower(maxTerm, null);
    if (this.term === maxTerm && this.vote === null) this.vote = this.id;
    this.rejoin = null;
    this.rejoining = false;
  }
}

/** The longest prefix of `entries` within `maxBytes` of data, and never empty when `entries` is not. */
function limitBytes(entries: Entry[], maxBytes: number): Entry[] {
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    bytes += entries[i]!.data.byteLength;
    if (bytes > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}
