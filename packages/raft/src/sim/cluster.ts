import { RaftError, isRaftError } from "../errors.js";
import { RawNode } from "../raw-node.js";
import { randInt, type Rng } from "../rng.js";
import { MemoryStorage } from "../storage.js";
import type { Entry, Message, NodeId, Ready, Status } from "../types.js";
import { SafetyChecker, SafetyViolation, entryKey } from "./checker.js";
import { SimNetwork, type NetworkFaults } from "./network.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The replicated state machine of the simulation: the ordered list of applied entries. */
interface AppliedState {
  lastIndex: number;
  /** [index, entry key] of every applied entry, no-ops included. */
  entries: Array<[number, string]>;
}

export interface SimNodeOptions {
  electionTick: number;
  heartbeatTick: number;
  snapshotChunkBytes: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot. */
  keepBehindSnapshot: number;
  /** Leaders send their appends before persisting (RaftConfig.earlyAppends). */
  earlyAppends?: boolean;
}

/** One simulated server: a disk that survives crashes, and a process that does not. */
export class SimNode {
  readonly id: NodeId;
  disk = new MemoryStorage();
  raft: RawNode | null = null;
  state: AppliedState = { lastIndex: 0, entries: [] };
  incarnation = 0;
  private staging: Uint8Array[] = [];
  private stagedBytes = 0;

  constructor(id: NodeId) {
    this.id = id;
  }

  get up(): boolean {
    return this.raft !== null;
  }

  /** `diskId`: used if the disk is empty; the cluster derives it from the simulated clock, like a host from Date.now(). */
  start(voters: readonly NodeId[], seed: number, diskId: number, opts: SimNodeOptions): void {
    this.incarnation++;
    this.raft = new RawNode({
      id: this.id,
      voters,
      storage: this.disk,
      seed,
      diskId,
      electionTick: opts.electionTick,
      heartbeatTick: opts.heartbeatTick,
      snapshotChunkBytes: opts.snapshotChunkBytes,
      maxSnapshotChunksInflight: 2,
      maxEntriesPerMsg: 8,
      maxInflightMsgs: 16,
      earlyAppends: opts.earlyAppends ?? false,
    });
    const snap = this.disk.snapshot();
    this.state = snap.index === 0 ? { lastIndex: 0, entries: [] } : decodeState(this.disk.snapshotData());
    this.staging = [];
    this.stagedBytes = 0;
  }

  crash(): void {
    this.raft = null;
  }

  wipe(): void {
    this.disk = new MemoryStorage();
  }

  stage(offset: number, data: Uint8Array): void {
    if (offset === 0) {
      this.staging = [];
      this.stagedBytes = 0;
    }
    if (offset !== this.stagedBytes) throw new SafetyViolation(`node ${this.id}: snapshot chunk at ${offset}, staged ${this.stagedBytes}`);
    this.staging.push(data);
    this.stagedBytes += data.length;
  }

  staged(): Uint8Array {
    return Buffer.concat(this.staging);
  }

  status(): Status | null {
    return this.raft?.status() ?? null;
  }
}

function encodeState(s: AppliedState): Uint8Array {
  return encoder.encode(JSON.stringify(s));
}

function decodeState(b: Uint8Array): AppliedState {
  return JSON.parse(decoder.decode(b)) as AppliedState;
}

export interface Proposal {
  id: string;
  node: NodeId;
  incarnation: number;
  index: number;
  term: number;
}

/**
 * A cluster of SimNodes over a SimNetwork, carrying out every Ready the way a correct host must
 * (persist, then send, then apply) and feeding every event to the SafetyChecker.
 */
export class SimCluster {
  readonly nodes: SimNode[];
  readonly voters: NodeId[];
  readonly net: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly proposals = new Map<string, Proposal>();
  readonly acked = new Set<string>();
  now = 0;
  /** Probability that a node crashes after persisting a Ready but before sending its messages. */
  tornReadyCrash = 0;
  tornReadyCrashes = 0;
  snapshotsInstalled = 0;
  /** Receives a line per event (and per message with traceMessages) when set: for replaying a seed. */
  trace: ((line: string) => void) | null = null;
  traceMessages = false;
  private readonly rng: Rng;
  private readonly opts: SimNodeOptions;
  private leaderTerms = new Map<NodeId, number>();

  constructor(size: number, rng: Rng, faults: NetworkFaults, opts: SimNodeOptions) {
    this.rng = rng;
    this.opts = opts;
    this.voters = Array.from({ length: size }, (_, i) => i + 1);
    this.nodes = this.voters.map((id) => new SimNode(id));
    this.net = new SimNetwork(rng, faults);
    for (const n of this.nodes) this.start(n);
  }

  node(id: NodeId): SimNode {
    const n = this.nodes[id - 1];
    if (n === undefined) throw new RaftError("LNC_RAFT_BAD_ARGUMENT", `no node ${id}`);
    return n;
  }

  start(n: SimNode): void {
    this.log(() => `start ${n.id}${n.disk.lastIndex() === 0 && n.disk.initialState().term === 0 ? " (empty disk)" : ""}`);
    n.start(this.voters, Math.floor(this.rng() * 2 ** 31), (this.now + 1) * 1024 + randInt(this.rng, 0, 1024), this.opts);
    this.leaderTerms.delete(n.id);
    this.process(n);
  }

  crash(n: SimNode): void {
    this.log(() => `crash ${n.id} ${JSON.stringify(n.status())}`);
    n.crash();
  }

  log(line: () => string): void {
    if (this.trace !== null) this.trace(`[${this.now}] ${line()}`);
  }

  /** Live leaders, highest term first. */
  leaders(): SimNode[] {
    return this.nodes
      .filter((n) => n.status()?.role === "leader")
      .sort((a, b) => b.status()!.term - a.status()!.term);
  }

  /** Proposes on `n`; returns the proposal id, or null when n is not the leader. */
  propose(n: SimNode, id: string): string | null {
    const raft = n.raft;
    if (raft === null) return null;
    try {
      const { index, term } = raft.propose(encoder.encode(id));
      this.proposals.set(id, { id, node: n.id, incarnation: n.incarnation, index, term });
    } catch (err) {
      if (isRaftError(err, "LNC_RAFT_NOT_LEADER") || isRaftError(err, "LNC_RAFT_TRANSFER_IN_PROGRESS")) return null;
      throw err;
    }
    this.process(n);
    return id;
  }

  /** One tick of simulated time: deliver due messages, then tick every live node. */
  tick(): void {
    this.now++;
    for (const m of this.net.deliver(this.now)) this.deliver(m);
    for (const n of this.nodes) {
      if (n.raft === null) continue;
      n.raft.tick();
      this.process(n);
    }
  }

  /** Delivers every message in flight, and what they cause, until the network is quiet. */
  stabilize(maxRounds = 10_000): void {
    for (let i = 0; i < maxRounds; i++) {
      const due = this.net.deliver(Number.MAX_SAFE_INTEGER);
      if (due.length === 0) return;
      for (const m of due) this.deliver(m);
    }
    throw new SafetyViolation(`network not quiet after ${maxRounds} rounds`);
  }

  /** Ticks only the given live nodes once (scripted tests). */
  tickNodes(ids: readonly NodeId[]): void {
    this.now++;
    for (const id of ids) {
      const n = this.node(id);
      if (n.raft === null) continue;
      n.raft.tick();
      this.process(n);
    }
  }

  private deliver(m: Message): void {
    const n = this.nodes[m.to - 1];
    if (n?.raft == null) return;
    n.raft.step(m);
    // Hosts in earlyAppends mode (the server's) also apply committed entries already on disk
    // as soon as a message commits them, ahead of the next Ready.
    if (this.opts.earlyAppends) for (const e of n.raft.takeCommittedStable()) this.apply(n, e);
    this.process(n);
  }

  /** Carries out every pending Ready of `n` as a correct host does. */
  process(n: SimNode): void {
    while (n.raft !== null && n.raft.hasReady()) {
      const raft = n.raft;
      const rd = raft.ready();
      for (const m of rd.earlyMessages) this.net.send(m, this.now);
      if (rd.earlyMessages.length > 0 && this.tornReadyCrash > 0 && this.rng() < this.tornReadyCrash) {
        this.tornReadyCrashes++;
        this.log(() => `crash ${n.id} after sending early appends, before persisting`);
        n.crash();
        return;
      }
      this.persist(n, rd);
      if (this.tornReadyCrash > 0 && this.rng() < this.tornReadyCrash) {
        this.tornReadyCrashes++;
        this.log(() => `crash ${n.id} after persisting, before sending`);
        n.crash();
        return;
      }
      for (const m of rd.messages) {
        if (this.traceMessages) this.log(() => `send ${JSON.stringify(m, (k, v: unknown) => (k === "data" && v instanceof Uint8Array ? decoder.decode(v) : v))}`);
        this.net.send(m, this.now);
      }
      for (const e of rd.committedEntries) this.apply(n, e);
      raft.advance(rd);
      this.maybeSnapshot(n);
    }
    this.observe(n);
  }

  private persist(n: SimNode, rd: Ready): void {
    for (const c of rd.snapshotChunks) n.stage(c.offset, c.data);
    if (rd.snapshot !== null) {
      const data = n.staged();
      if (data.length !== rd.snapshot.size) {
        throw new SafetyViolation(`node ${n.id}: snapshot ${rd.snapshot.index} staged ${data.length} of ${rd.snapshot.size} bytes`);
      }
      n.disk.applySnapshot(rd.snapshot, data);
      this.snapshotsInstalled++;
      n.state = decodeState(data);
      if (n.state.lastIndex !== rd.snapshot.index) throw new SafetyViolation(`node ${n.id}: snapshot state mismatch`);
      for (const [i, key] of n.state.entries) this.checker.entryApplied(n.id, i, key);
    }
    n.disk.append(rd.entries);
    for (const e of rd.entries) {
      let prev: number | undefined;
      try {
        prev = e.index === 1 ? 0 : n.disk.term(e.index - 1);
      } catch {
        prev = undefined;
      }
      this.checker.logAppended(n.id, e, prev);
    }
    if (rd.hardState !== null) n.disk.setHardState(rd.hardState);
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index !== n.state.lastIndex + 1) {
      throw new SafetyViolation(`node ${n.id} applies index ${e.index} after ${n.state.lastIndex}`);
    }
    const key = entryKey(e);
    this.checker.entryApplied(n.id, e.index, key);
    n.state.lastIndex = e.index;
    n.state.entries.push([e.index, key]);
    if (e.type === "normal") {
      const id = decoder.decode(e.data);
      const p = this.proposals.get(id);
      if (p !== undefined && p.node === n.id && p.incarnation === n.incarnation) {
        if (p.index !== e.index || p.term !== e.term) {
          throw new SafetyViolation(`proposal ${id} was appended at ${p.index}/${p.term} but committed at ${e.index}/${e.term}`);
        }
        this.acked.add(id);
      }
    }
  }

  private maybeSnapshot(n: SimNode): void {
    const snapIndex = n.disk.snapshot().index;
    if (n.state.lastIndex - snapIndex < this.opts.snapshotEvery) return;
    n.disk.createSnapshot(n.state.lastIndex, encodeState(n.state));
    n.disk.compact(Math.max(snapIndex, n.state.lastIndex - this.opts.keepBehindSnapshot));
  }

  private observe(n: SimNode): void {
    const raft = n.raft;
    if (raft === null) return;
    const s = raft.status();
    if (s.role !== "leader" || this.leaderTerms.get(n.id) === s.term) return;
    this.leaderTerms.set(n.id, s.term);
    this.log(() => `leader ${n.id} term ${s.term} lastIndex ${s.lastIndex} commit ${s.commit}`);
    this.checker.leaderElected(s.term, n.id, (i) => raft.termAt(i), n.disk.firstIndex(), s.lastIndex);
  }

  /** Asks leader `n` to hand over to `to` (graceful shutdown). */
  transfer(n: SimNode, to: NodeId): void {
    if (n.raft === null) return;
    this.log(() => `transfer ${n.id} -> ${to}`);
    n.raft.transferLeadership(to);
    this.process(n);
  }

  /** Does every live node hold every acknowledged proposal in its applied state? */
  missingAcked(): string[] {
    const missing: string[] = [];
    for (const n of this.nodes) {
      const have = new Set(n.state.entries.map(([, key]) => key.slice(key.indexOf("/normal/") + 8)));
      for (const id of this.acked) if (!have.has(id)) missing.push(`${n.id}:${id}`);
    }
    return missing;
  }

  randomNode(filter: (n: SimNode) => boolean): SimNode | undefined {
    const c = this.nodes.filter(filter);
    return c.length === 0 ? undefined : c[randInt(this.rng, 0, c.length)];
  }
}
