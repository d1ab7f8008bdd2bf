import { createRng, randInt } from "../rng.js";
import { SafetyViolation } from "./checker.js";
import { SimCluster, type SimNode, type SimNodeOptions } from "./cluster.js";

export interface ScenarioOptions {
  seed: number;
  /** Cluster size; default 3 or 5, chosen by the seed. */
  nodes?: number;
  /** Ticks of chaos before the network heals. Default 600. */
  faultTicks?: number;
  /** After healing, a leader must be elected and a proposal applied everywhere within this many ticks. Default 1500. */
  livenessTicks?: number;
  /** Per-tick probability of a client proposal. Default 0.2. */
  proposeRate?: number;
  /** Per-tick probability of each fault kind. */
  crashRate?: number;
  partitionRate?: number;
  /** Per-tick probability that the leader hands leadership to a random peer. Default 0.002. */
  transferRate?: number;
  /** Probability a restart comes back with an empty disk. Default 0.25. */
  wipeRate?: number;
  node?: Partial<SimNodeOptions>;
  /** Event log for replaying a seed (crashes, restarts, partitions, elections; messages with traceMessages). */
  trace?: (line: string) => void;
  traceMessages?: boolean;
}

export interface FaultCounts {
  crashes: number;
  leaderCrashes: number;
  wipes: number;
  partitions: number;
  transfers: number;
  tornReadyCrashes: number;
  dropped: number;
  duplicated: number;
  blocked: number;
}

export interface ScenarioResult {
  seed: number;
  nodes: number;
  ok: boolean;
  /** Why the seed failed (a safety violation or a liveness timeout). */
  failure: string | null;
  ticks: number;
  proposals: number;
  acked: number;
  faults: FaultCounts;
  /** Ticks from a leader crash until a new leader exists, one sample per leader crash. */
  electionAfterLeaderCrash: number[];
  /** InstallSnapshot transfers completed by followers. */
  snapshotsInstalled: number;
  /** Ticks from healing until the final proposal is applied on every node. */
  healTicks: number;
}

const DEFAULT_NODE: SimNodeOptions = {
  electionTick: 15,
  heartbeatTick: 5,
  snapshotChunkBytes: 256,
  snapshotEvery: 25,
  keepBehindSnapshot: 5,
};

/**
 * One seeded run: `faultTicks` of crashes, wipes, partitions (majority/minority, bridge,
 * isolation), loss, duplication and reordering with clients proposing; then everything heals and
 * the cluster must elect a leader, commit a fresh proposal and apply every acknowledged one on
 * every node. Safety is checked after every step by the SafetyChecker.
 */
export function runScenario(o: ScenarioOptions): ScenarioResult {
  const rng = createRng(o.seed);
  const size = o.nodes ?? (rng() < 0.5 ? 3 : 5);
  const faultTicks = o.faultTicks ?? 600;
  const livenessTicks = o.livenessTicks ?? 1500;
  const proposeRate = o.proposeRate ?? 0.2;
  const crashRate = o.crashRate ?? 0.004;
  const partitionRate = o.partitionRate ?? 0.004;
  const wipeRate = o.wipeRate ?? 0.25;
  const transferRate = o.transferRate ?? 0.002;
  // Odd seeds run hosts that send a leader's appends before persisting them (the server's mode).
  const nodeOpts = { ...DEFAULT_NODE, earlyAppends: o.seed % 2 === 1, ...o.node };
  const faults = { drop: rng() * 0.1, duplicate: rng() * 0.05, maxDelay: randInt(rng, 1, 4) };
  const c = new SimCluster(size, rng, faults, nodeOpts);
  c.tornReadyCrash = rng() < 0.5 ? 0.001 : 0;
  c.trace = o.trace ?? null;
  c.traceMessages = o.traceMessages ?? false;

  const counts: FaultCounts = { crashes: 0, leaderCrashes: 0, wipes: 0, partitions: 0, transfers: 0, tornReadyCrashes: 0, dropped: 0, duplicated: 0, blocked: 0 };
  const electionSamples: number[] = [];
  let leaderCrash: { at: number; term: number } | null = null;
  const downUntil = new Map<number, number>();
  let partitionUntil = 0;
  let lastTransferAt = -Infinity;
  let nextProposal = 1;
  let failure: string | null = null;
  let healTicks = 0;

  const restart = (n: SimNode, allowWipe: boolean) => {
    // One replacement at a time: a second node losing its disk while the first has not caught up
    // is a majority data loss in a 3-node cluster, which no protocol survives.
    const someoneRejoining = c.nodes.some((m) => m !== n && (m.status()?.rejoining ?? (m.disk.initialState().rejoining || isBlank(m))));
    if (allowWipe && !someoneRejoining && rng() < wipeRate) {
      n.wipe();
      counts.wipes++;
      c.log(() => `wipe ${n.id}`);
    }
    downUntil.delete(n.id);
    c.start(n);
  };

  const trackElection = () => {
    if (leaderCrash === null) return;
    const top = c.leaders()[0];
    if (top !== undefined && top.status()!.term > leaderCrash.term) {
      electionSamples.push(c.now - leaderCrash.at);
      leaderCrash = null;
    }
  };

  try {
    for (let t = 0; t < faultTicks; t++) {
      for (const [id, until] of downUntil) if (until <= c.now) restart(c.node(id), true);
      for (const n of c.nodes) if (!n.up && !downUntil.has(n.id)) downUntil.set(n.id, c.now + randInt(rng, 1, 120));

      if (rng() < crashRate) {
        const leader = c.leaders()[0];
        const victim = leader !== undefined && rng() < 0.5 ? leader : c.randomNode((n) => n.up);
        if (victim !== undefined) {
          // Sampled only on a calm network and with no hand-over under way (TimeoutNow elects at once).
          const calm = !c.net.isPartitioned() && c.now - lastTransferAt > 2 * nodeOpts.electionTick;
          if (victim.status()?.role === "leader" && leaderCrash === null && calm) {
            leaderCrash = { at: c.now, term: victim.status()!.term };
            counts.leaderCrashes++;
          }
          c.crash(victim);
          counts.crashes++;
          downUntil.set(victim.id, c.now + randInt(rng, 1, 120));
        }
      }

      if (c.net.isPartitioned() && c.now >= partitionUntil) {
        c.net.heal();
        c.log(() => "heal partition");
      }
      if (!c.net.isPartitioned() && rng() < partitionRate) {
        partition(c, rng);
        counts.partitions++;
        c.log(() => `partition ${c.net.describe()}`);
        partitionUntil = c.now + randInt(rng, 20, 200);
        leaderCrash = null;
      }

      if (rng() < transferRate) {
        const leader = c.leaders()[0];
        const target = c.randomNode((n) => n !== leader);
        if (leader !== undefined && target !== undefined) {
          c.transfer(leader, target.id);
          counts.transfers++;
          lastTransferAt = c.now;
        }
      }

      if (rng() < proposeRate) {
        const leader = c.leaders()[0];
        if (leader !== undefined) c.propose(leader, `p${o.seed}-${nextProposal++}`);
      }
      c.tick();
      trackElection();
      checkTraffic(c);
    }

    // Heal: every node up, no partitions, no loss; delays (reordering) stay.
    c.net.heal();
    c.log(() => "heal everything");
    c.net.faults = { drop: 0, duplicate: 0, maxDelay: faults.maxDelay };
    c.tornReadyCrash = 0;
    for (const n of c.nodes) if (!n.up) restart(n, false);
    const healedAt = c.now;
    const finalId = `final-${o.seed}`;
    let done = false;
    while (c.now - healedAt < livenessTicks) {
      for (const n of c.nodes) if (!n.up) restart(n, false);
      const leader = c.leaders()[0];
      const p = c.proposals.get(finalId);
      if (leader !== undefined && (p === undefined || (p.node !== leader.id && (c.now - healedAt) % 50 === 0))) {
        c.propose(leader, finalId);
      }
      c.tick();
      trackElection();
      checkTraffic(c);
      if (c.acked.has(finalId) && c.missingAcked().length === 0) {
        done = true;
        break;
      }
    }
    healTicks = c.now - healedAt;
    if (!done) {
      const missing = c.missingAcked();
      const st = c.nodes.map((n) => JSON.stringify(n.status())).join(" ");
      failure = `liveness: not converged ${livenessTicks} ticks after healing (final acked: ${c.acked.has(finalId)}, missing ${missing.slice(0, 5).join(",")}) ${st}`;
    }
  } catch (err) {
    if (!(err instanceof SafetyViolation)) throw err;
    failure = `safety at tick ${c.now}: ${err.message}`;
  }

  counts.tornReadyCrashes = c.tornReadyCrashes;
  counts.dropped = c.net.stats.dropped;
  counts.duplicated = c.net.stats.duplicated;
  counts.blocked = c.net.stats.blocked;
  return {
    seed: o.seed,
    nodes: size,
    ok: failure === null,
    failure,
    ticks: c.now,
    proposals: c.proposals.size,
    acked: c.acked.size,
    faults: counts,
    electionAfterLeaderCrash: electionSamples,
    snapshotsInstalled: c.snapshotsInstalled,
    healTicks,
  };
}

/**
 * Traffic must stay proportional to the cluster: a feedback loop (a response that triggers more
 * than one message, amplified by duplication) grows without bound and is a liveness bug.
 */
const MAX_IN_FLIGHT_PER_LINK = 200;

function checkTraffic(c: SimCluster): void {
  const limit = MAX_IN_FLIGHT_PER_LINK * c.voters.length * (c.voters.length - 1);
  if (c.net.inFlight() > limit) throw new SafetyViolation(`message storm: ${c.net.inFlight()} messages in flight`);
}

function isBlank(n: SimNode): boolean {
  const hs = n.disk.initialState();
  return hs.term === 0 && n.disk.lastIndex() === 0 && n.disk.snapshot().index === 0;
}

/** Majority/minority split, a bridge (one node sees both sides that cannot see each other), or one isolated node. */
function partition(c: SimCluster, rng: () => number): void {
  const ids = [...c.voters];
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const kind = rng();
  if (kind < 0.4) {
    const cut = Math.floor(ids.length / 2);
    c.net.split(ids.slice(0, cut), ids.slice(cut));
  } else if (kind < 0.7 && ids.length >= 3) {
    // ids[0] is the bridge: it stays connected to both sides.
    const rest = ids.slice(1);
    const half = Math.ceil(rest.length / 2);
    c.net.split(rest.slice(0, half), rest.slice(half));
  } else {
    c.net.split(ids.slice(0, 1), ids.slice(1));
  }
}
