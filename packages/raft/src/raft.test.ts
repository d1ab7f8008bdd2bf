import { describe, expect, it } from "vitest";
import { isRaftError } from "./errors.js";
import { RawNode } from "./raw-node.js";
import { MemoryStorage } from "./storage.js";
import type { Entry, Message, NodeId, Ready } from "./types.js";

const enc = new TextEncoder();

function ent(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: "normal", data: enc.encode(data) };
}

function storageWith(term: number, commit: number, entries: Entry[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append(entries);
  s.setHardState({ term, vote: null, commit, rejoining: false, diskId: 1 });
  return s;
}

/** A hand-driven group: every Ready is carried out, messages are queued until delivered. */
class Group {
  readonly nodes = new Map<NodeId, { raft: RawNode; storage: MemoryStorage }>();
  queue: Message[] = [];
  constructor(storages: Map<NodeId, MemoryStorage>, extra: { maxEntriesPerMsg?: number; maxBytesPerMsg?: number } = {}) {
    const voters = [...storages.keys()];
    for (const [id, storage] of storages) {
      this.nodes.set(id, { raft: new RawNode({ id, voters, storage, seed: id, ...extra }), storage });
    }
    for (const id of voters) this.pump(id);
  }
  raft(id: NodeId): RawNode {
    return this.nodes.get(id)!.raft;
  }
  pump(id: NodeId): Ready[] {
    const n = this.nodes.get(id)!;
    const out: Ready[] = [];
    while (n.raft.hasReady()) {
      const rd = n.raft.ready();
      n.storage.append(rd.entries);
      if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
      this.queue.push(...rd.messages);
      n.raft.advance(rd);
      out.push(rd);
    }
    return out;
  }
  /** Replaces node `id` by a fresh process on an empty disk. */
  wipe(id: NodeId, seed: number): void {
    const storage = new MemoryStorage();
    const voters = [...this.nodes.keys()];
    this.nodes.set(id, { raft: new RawNode({ id, voters, storage, seed }), storage });
    this.queue = this.queue.filter((m) => m.from !== id);
    this.pump(id);
  }
  /** Delivers queued messages (and their consequences) until none are left; `drop` loses some. */
  stabilize(onDelivered: (m: Message) => void = () => {}, drop: (m: Message) => boolean = () => false): void {
    for (let i = 0; i < 10_000 && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      if (drop(m)) continue;
      this.raft(m.to).step(m);
      this.pump(m.to);
      onDelivered(m);
    }
  }
}

describe("elections", () => {
  it("a follower persists its vote in the same Ready that carries the grant", () => {
    const s = storageWith(1, 0, []);
    const n = new RawNode({ id: 2, voters: [1, 2, 3], storage: s, seed: 7 });
    n.step({ type: "vote", from: 1, to: 2, term: 2, index: 0, logTerm: 0, transfer: false });
    const rd = n.ready();
    expect(rd.hardState).toMatchObject({ term: 2, vote: 1 });
    expect(rd.messages).toEqual([{ type: "voteResp", from: 2, to: 1, term: 2, reject: false }]);
  });

  it("refuses a candidate whose log is behind", () => {
    const s = storageWith(2, 2, [ent(1, 1), ent(2, 2)]);
    const n = new RawNode({ id: 2, voters: [1, 2, 3], storage: s, seed: 7 });
    n.step({ type: "vote", from: 1, to: 2, term: 3, index: 5, logTerm: 1, transfer: false });
    const rd = n.ready();
    expect(rd.hardState).toMatchObject({ term: 3, vote: null });
    expect(rd.messages).toEqual([{ type: "voteResp", from: 2, to: 1, term: 3, reject: true }]);
  });

  it("a pre-vote grant changes neither term nor vote", () => {
    const s = storageWith(1, 0, []);
    const n = new RawNode({ id: 2, voters: [1, 2, 3], storage: s, seed: 7 });
    n.step({ type: "preVote", from: 1, to: 2, term: 2, index: 0, logTerm: 0, transfer: false });
    const rd = n.ready();
    expect(rd.hardState).toBeNull();
    expect(rd.messages).toEqual([{ type: "preVoteResp", from: 2, to: 1, term: 2, reject: false }]);
  });

  it("elects within the randomized timeout [electionTick, 2*electionTick)", () => {
    const n = new RawNode({ id: 1, voters: [1], storage: storageWith(1, 0, []), seed: 3, electionTick: 10, heartbeatTick: 2 });
    let ticks = 0;
    while (n.status().role !== "leader") {
      n.tick();
      ticks++;
      expect(ticks).toBeLessThan(20);
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
  });
});

/** Node 1 of three, elected in term 2 with node 2's votes (earlyAppends on), its no-op persisted. */
function electedLeader(): { leader: RawNode; storage: MemoryStorage } {
  const storage = storageWith(1, 0, []);
  const leader = new RawNode({ id: 1, voters: [1, 2, 3], storage, seed: 1, earlyAppends: true });
  leader.campaign();
  leader.step({ type: "preVoteResp", from: 2, to: 1, term: 2, reject: false });
  let rd = leader.ready();
  storage.setHardState(rd.hardState!);
  leader.advance(rd);
  leader.step({ type: "voteResp", from: 2, to: 1, term: 2, reject: false });
  rd = leader.ready();
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  leader.advance(rd);
  return { leader, storage };
}

describe("early appends (a leader replicating while it persists)", () => {
  it("a leader counts itself toward a commit only once its own copy is persisted", () => {
    const { leader, storage: s1 } = electedLeader();
    let rd: Ready;
    // Follower 2 acknowledges the no-op: committed with the leader's persisted copy.
    leader.step({ type: "appResp", from: 2, to: 1, term: 2, index: 1, reject: false, hintIndex: 0, hintTerm: 0, diskId: 0 });
    expect(leader.status().commit).toBe(1);
    rd = leader.ready();
    leader.advance(rd);
    const { index } = leader.propose(enc.encode("x"));
    const inFlight = leader.ready();
    expect(inFlight.entries.map((e) => e.index)).toEqual([index]);
    expect(inFlight.earlyMessages.some((m) => m.type === "app" && m.entries.some((e) => e.index === index))).toBe(true);
    expect(inFlight.messages.some((m) => m.type === "app")).toBe(false);
    // The follower stores it and answers while the leader's fsync is still running: one
    // durable copy of three is not a majority, so nothing commits yet.
    leader.step({ type: "appResp", from: 2, to: 1, term: 2, index, reject: false, hintIndex: 0, hintTerm: 0, diskId: 0 });
    expect(leader.status().commit).toBe(1);
    s1.append(inFlight.entries);
    leader.advance(inFlight);
    expect(leader.status().commit).toBe(index);
  });
});

describe("committed entries on disk, taken while a Ready is outstanding", () => {
  it("a commit learned during the leader's fsync can be applied at once, and no later Ready hands it out again", () => {
    const { leader, storage: s1 } = electedLeader();
    let rd: Ready;
    const a = leader.propose(enc.encode("a")).index;
    rd = leader.ready();
    s1.append(rd.entries);
    leader.advance(rd);
    expect(leader.takeCommittedStable()).toEqual([]); // on disk, but not committed yet
    const b = leader.propose(enc.encode("b")).index;
    const persisting = leader.ready(); // b is being written
    expect(persisting.entries.map((e) => e.index)).toEqual([b]);
    leader.step({ type: "appResp", from: 2, to: 1, term: 2, index: a, reject: false, hintIndex: 0, hintTerm: 0, diskId: 0 });
    const now = leader.takeCommittedStable();
    // The no-op and `a`: committed by that acknowledgement, and both on the leader's disk.
    expect(now.map((e) => e.index)).toEqual(Array.from({ length: a }, (_, i) => i + 1));
    expect(leader.takeCommittedStable()).toEqual([]);
    s1.append(persisting.entries);
    leader.advance(persisting);
    leader.step({ type: "appResp", from: 2, to: 1, term: 2, index: b, reject: false, hintIndex: 0, hintTerm: 0, diskId: 0 });
    const next = leader.ready();
    expect(next.committedEntries.map((e) => e.index)).toEqual([b]);
  });
});

describe("urgent messages", () => {
  it("a leader's heartbeats can leave while a Ready is still being persisted; a follower's answer too", () => {
    const s1 = storageWith(1, 0, []);
    const leader = new RawNode({ id: 1, voters: [1, 2], storage: s1, seed: 1, electionTick: 10, heartbeatTick: 2 });
    leader.campaign();
    leader.step({ type: "preVoteResp", from: 2, to: 1, term: 2, reject: false });
    let rd = leader.ready();
    s1.setHardState(rd.hardState!);
    leader.advance(rd);
    leader.step({ type: "voteResp", from: 2, to: 1, term: 2, reject: false });
    expect(leader.status().role).toBe("leader");
    rd = leader.ready();
    s1.append(rd.entries);
    s1.setHardState(rd.hardState!);
    leader.advance(rd);
    leader.propose(enc.encode("x"));
    const outstanding = leader.ready(); // entries being persisted, not advanced yet
    leader.tick();
    leader.tick();
    const urgent = leader.takeUrgentMessages();
    expect(urgent.map((m) => m.type)).toEqual(["heartbeat"]);
    leader.advance(outstanding);
    expect(leader.ready().messages.some((m) => m.type === "heartbeat")).toBe(false);

    const f = new RawNode({ id: 2, voters: [1, 2], storage: storageWith(2, 0, []), seed: 2 });
    f.step({ type: "heartbeat", from: 1, to: 2, term: 2, commit: 0, commitTerm: 0 });
    expect(f.takeUrgentMessages().map((m) => m.type)).toEqual(["heartbeatResp"]);
  });

  it("holds answers back while this node's new term is not durable", () => {
    const f = new RawNode({ id: 2, voters: [1, 2, 3], storage: storageWith(1, 0, []), seed: 2 });
    f.step({ type: "heartbeat", from: 1, to: 2, term: 5, commit: 0, commitTerm: 0 });
    expect(f.takeUrgentMessages()).toEqual([]);
    const rd = f.ready();
    expect(rd.hardState).toMatchObject({ term: 5 });
    expect(rd.messages.map((m) => m.type)).toEqual(["heartbeatResp"]);
  });
});

describe("replication", () => {
  it("commits an old-term entry only once an entry of the current term is on a majority (Raft §5.4.2)", () => {
    const old = [ent(1, 1), ent(2, 2)];
    const group = new Group(
      new Map([
        [1, storageWith(2, 1, old)],
        [2, storageWith(2, 1, [ent(1, 1)])],
        [3, storageWith(2, 1, [ent(1, 1)])],
      ]),
      { maxEntriesPerMsg: 1 },
    );
    group.raft(1).campaign();
    group.pump(1);
    const commits = new Set<number>();
    group.stabilize(() => commits.add(group.raft(1).status().commit));
    expect(group.raft(1).status()).toMatchObject({ role: "leader", term: 3 });
    // Index 2 (term 2) reached a majority before the leader's no-op (index 3) did; it must
    // not have been committed on its own.
    expect(commits.has(2)).toBe(false);
    expect(group.raft(1).status().commit).toBe(3);
  });

  it("caps an append message at maxBytesPerMsg of entry data, but always sends at least one entry", () => {
    const big = (i: number, kib: number) => ({ index: i, term: 1, type: "normal" as const, data: new Uint8Array(kib * 1024) });
    const log = [big(1, 3), big(2, 3), big(3, 3), big(4, 10), big(5, 1)];
    const group = new Group(
      new Map([
        [1, storageWith(1, 0, log)],
        [2, storageWith(1, 0, [])],
        [3, storageWith(1, 0, [])],
      ]),
      { maxBytesPerMsg: 7 * 1024 },
    );
    group.raft(1).campaign();
    group.pump(1);
    const sizes: number[] = [];
    group.stabilize((m) => {
      if (m.type === "app" && m.to === 2 && m.entries.length > 0) sizes.push(m.entries.reduce((n, e) => n + e.data.byteLength, 0));
    });
    expect(group.raft(1).status()).toMatchObject({ role: "leader", commit: 6 });
    expect(Math.max(...sizes.filter((b) => b !== 10 * 1024))).toBeLessThanOrEqual(7 * 1024);
    expect(sizes).toContain(10 * 1024);
    expect(group.nodes.get(2)!.storage.lastIndex()).toBe(6);
  });

  it("truncates a conflicting suffix and skips a whole term per rejection (fast backtracking)", () => {
    const leaderLog = [ent(1, 1), ...Array.from({ length: 10 }, (_, i) => ent(i + 2, 3, `L${i + 2}`))];
    const followerLog = [ent(1, 1), ...Array.from({ length: 30 }, (_, i) => ent(i + 2, 2, `F${i + 2}`))];
    const group = new Group(
      new Map([
        [1, storageWith(3, 1, leaderLog)],
        [2, storageWith(2, 1, followerLog)],
        [3, storageWith(3, 1, [ent(1, 1)])],
      ]),
    );
    group.raft(1).campaign();
    group.pump(1);
    let rejects = 0;
    group.stabilize((m) => {
      if (m.type === "appResp" && m.reject && m.from === 2) rejects++;
    });
    expect(group.raft(1).status()).toMatchObject({ role: "leader", term: 4, commit: 12 });
    expect(rejects).toBe(1);
    const f = group.nodes.get(2)!.storage;
    expect(f.lastIndex()).toBe(12);
    const l = group.nodes.get(1)!.storage;
    expect(f.entries(1, 13)).toEqual(l.entries(1, 13));
  });

  it("a follower rejects proposals and names the leader", () => {
    const group = new Group(new Map([[1, storageWith(1, 0, [])], [2, storageWith(1, 0, [])], [3, storageWith(1, 0, [])]]));
    group.raft(1).campaign();
    group.pump(1);
    group.stabilize();
    let caught: unknown;
    try {
      group.raft(2).propose(enc.encode("x"));
    } catch (err) {
      caught = err;
    }
    expect(isRaftError(caught, "LNC_RAFT_NOT_LEADER")).toBe(true);
    expect((caught as { leader: number }).leader).toBe(1);
  });
});

describe("restart", () => {
  it("does not hand out entries the snapshot already covers, even with log kept behind it", () => {
    // Regression for sim seeds 1-5: the compaction point (10) was taken as the applied index.
    const s = storageWith(1, 20, Array.from({ length: 20 }, (_, i) => ent(i + 1, 1)));
    s.createSnapshot(15, enc.encode("state@15"));
    s.compact(10);
    const n = new RawNode({ id: 1, voters: [1, 2, 3], storage: s, seed: 1 });
    const rd = n.ready();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([16, 17, 18, 19, 20]);
  });

  it("resumes term, vote, commit and log from storage", () => {
    const s = storageWith(5, 2, [ent(1, 1), ent(2, 5)]);
    s.setHardState({ term: 5, vote: 3, commit: 2, rejoining: false, diskId: 1 });
    const n = new RawNode({ id: 1, voters: [1, 2, 3], storage: s, seed: 1 });
    expect(n.status()).toMatchObject({ term: 5, commit: 2, lastIndex: 2, rejoining: false, role: "follower" });
    n.step({ type: "vote", from: 2, to: 1, term: 5, index: 9, logTerm: 9, transfer: false });
    expect(n.ready().messages).toEqual([{ type: "voteResp", from: 1, to: 2, term: 5, reject: true }]);
  });

  it("a blank node starts rejoining and probes every peer", () => {
    const n = new RawNode({ id: 1, voters: [1, 2, 3], storage: new MemoryStorage(), seed: 1 });
    expect(n.status().rejoining).toBe(true);
    const rd = n.ready();
    expect(rd.hardState?.rejoining).toBe(true);
    expect(rd.messages.map((m) => [m.type, m.to])).toEqual([["probe", 2], ["probe", 3]]);
  });
});

describe("node replacement", () => {
  it("ignores acknowledgements a replaced node sent before its wipe", () => {
    const group = new Group(new Map([[1, storageWith(1, 0, [])], [2, storageWith(1, 0, [])], [3, storageWith(1, 0, [])]]));
    group.raft(1).campaign();
    group.pump(1);
    group.stabilize();
    expect(group.raft(1).status()).toMatchObject({ role: "leader", commit: 1 });
    const { index } = group.raft(1).propose(enc.encode("x"));
    group.queue = [];
    const staleAck: Message = { type: "appResp", from: 3, to: 1, term: 2, index, reject: false, hintIndex: 0, hintTerm: 0, diskId: 1 };
    // Node 3 restarted on an empty disk (disk id 77) and probes the leader...
    group.raft(1).step({ type: "probe", from: 3, to: 1, term: 0, nonce: 5, diskId: 77, lastIndex: 0 });
    group.pump(1);
    // ...then its old process's acknowledgement of x arrives late: it must not commit x.
    group.raft(1).step(staleAck);
    expect(group.raft(1).status().commit).toBe(1);
    // The same acknowledgement from the new disk does count.
    group.raft(1).step({ ...staleAck, diskId: 77 });
    expect(group.raft(1).status().commit).toBe(index);
  });
});

describe("node replacement: the wiped node was the only one that knew of a commit", () => {
  // Regression for sim seed 7978 (crash-heavy): leader 2 commits its no-op with node 3's
  // acknowledgement, applies it, and is wiped before anyone else learns of the commit. Node 2
  // used to stop rejoining once its commit index reached the highest one its peers reported
  // (0 here) and then voted for node 1, whose log is empty: the applied entry was lost.
  it("keeps abstaining until its log is as up to date as every log its peers reported", () => {
    const group = new Group(new Map([[1, storageWith(1, 0, [])], [2, storageWith(1, 0, [])], [3, storageWith(1, 0, [])]]));
    group.raft(2).campaign();
    group.pump(2);
    let leaderSpoke = false;
    group.stabilize(
      () => {},
      (m) => {
        if (m.from === 2 && (m.type === "app" || m.type === "heartbeat")) {
          if (leaderSpoke || m.to !== 3) return true;
          leaderSpoke = true;
        }
        return false;
      },
    );
    expect(group.raft(2).status()).toMatchObject({ role: "leader", commit: 1 });
    expect(group.raft(3).status()).toMatchObject({ commit: 0, lastIndex: 1 });
    expect(group.raft(1).status()).toMatchObject({ lastIndex: 0 });

    group.wipe(2, 99);
    group.stabilize();
    expect(group.raft(2).status().rejoining).toBe(true);

    // Node 1 cannot win: node 3 has the newer log and node 2 abstains.
    group.raft(1).campaign();
    group.pump(1);
    group.stabilize();
    expect(group.raft(1).status().role).not.toBe("leader");

    // Node 3 can (node 1's empty log is behind it); node 2 catches up, then may vote again.
    group.raft(3).campaign();
    group.pump(3);
    group.stabilize();
    expect(group.raft(3).status().role).toBe("leader");
    expect(group.raft(2).status()).toMatchObject({ rejoining: false, leader: 3 });
    expect(group.nodes.get(2)!.storage.term(1)).toBe(group.nodes.get(3)!.storage.term(1));
  });
});

describe("node replacement: the wiped node's old vote", () => {
  it("never votes again in the highest term its peers reported", () => {
    const group = new Group(new Map([[1, storageWith(1, 0, [])], [2, storageWith(1, 0, [])], [3, storageWith(1, 0, [])]]));
    // Node 1 campaigns in term 2 and only node 3 hears it; node 3's grant is still on its way.
    group.raft(1).campaign();
    group.pump(1);
    let held: Message | undefined;
    group.stabilize(
      () => {},
      (m) => {
        if (m.to === 2 || m.from === 2) return true;
        if (m.type === "voteResp" && m.from === 3) {
          held = m;
          return true;
        }
        return false;
      },
    );
    expect(held).toMatchObject({ reject: false, term: 2 });
    expect(group.raft(1).status()).toMatchObject({ role: "candidate", term: 2 });

    // Node 3 loses its disk, rejoins (every log is empty, so it may vote again at once) and
    // must count itself as having voted in term 2.
    group.wipe(3, 5);
    group.stabilize();
    expect(group.raft(3).status()).toMatchObject({ rejoining: false, term: 2 });

    // Node 2, cut off from node 1, campaigns: node 3 must not help it to a second term-2 win.
    group.raft(2).campaign();
    group.pump(2);
    group.stabilize(
      () => {},
      (m) => m.to === 1 || m.from === 1,
    );
    const two = group.raft(2).status();
    expect(two.role === "leader" && two.term === 2).toBe(false);

    // The old grant arrives: node 1 is the one leader of term 2.
    group.raft(1).step(held!);
    expect(group.raft(1).status()).toMatchObject({ role: "leader", term: 2 });
  });
});

describe("host contract", () => {
  it("refuses a second ready() before advance()", () => {
    const n = new RawNode({ id: 1, voters: [1], storage: storageWith(1, 0, []), seed: 1 });
    n.campaign();
    n.ready();
    expect(() => n.ready()).toThrow(expect.objectContaining({ code: "LNC_RAFT_READY_PENDING" }));
  });

  it("rejects bad configurations with LNC_RAFT_BAD_CONFIG", () => {
    const storage = new MemoryStorage();
    expect(() => new RawNode({ id: 4, voters: [1, 2, 3], storage, seed: 1 })).toThrow(expect.objectContaining({ code: "LNC_RAFT_BAD_CONFIG" }));
    expect(() => new RawNode({ id: 1, voters: [1, 2], storage, seed: 1, electionTick: 5, heartbeatTick: 5 })).toThrow(
      expect.objectContaining({ code: "LNC_RAFT_BAD_CONFIG" }),
    );
  });
});
