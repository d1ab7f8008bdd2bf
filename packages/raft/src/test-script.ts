import { readFileSync } from "node:fs";
import { createRng } from "./rng.js";
import { SimCluster, type SimNode } from "./sim/cluster.js";
import { isRaftError } from "./errors.js";
import type { NodeId } from "./types.js";

/**
 * Runs a scripted interaction test (etcd's testdata style) against a SimCluster with a perfect
 * network; the SafetyChecker watches every step. Commands, one per line (# starts a comment):
 *   cluster N [electionTick=15] [heartbeatTick=5] [chunk=256] [snapshotEvery=1000000] [keep=0] [seed=1] [down=IDS]
 *   campaign ID | propose ID DATA | propose-leader DATA | propose-rejected ID CODE | stabilize
 *   transfer FROM [TO]    leader FROM hands leadership to TO, by default its most caught-up follower
 *   tick IDS|all N        each round ticks the nodes, then delivers everything
 *   isolate ID | partition IDS IDS | heal | crash ID | restart ID | wipe ID
 *   expect-leader IDS     exactly one leader among IDS, followed by the others
 *   expect IDS|all key=value...   keys: role term leader commit applied lastIndex rejoining vote up has missing
 * IDS is a comma-separated list. A failing line throws with its file and line number.
 */
export function runScript(path: string): void {
  const lines = readFileSync(path, "utf8").split("\n");
  let c: SimCluster | null = null;
  const cluster = (): SimCluster => {
    if (c === null) throw new Error("script must start with `cluster N`");
    return c;
  };
  const ids = (arg: string | undefined): NodeId[] =>
    arg === "all" ? cluster().voters : (arg ?? "").split(",").map((x) => Number.parseInt(x, 10));
  lines.forEach((raw, lineNo) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const [cmd, ...args] = line.split(/\s+/);
    const where = `${path}:${lineNo + 1}: ${line}`;
    const pairs = args.filter((a) => a.includes("=")).map((a) => a.split("=") as [string, string]);
    const kv = Object.fromEntries(pairs);
    try {
      switch (cmd) {
        case "cluster": {
          const num = (k: string, d: number) => (kv[k] !== undefined ? Number(kv[k]) : d);
          c = new SimCluster(Number(args[0]), createRng(num("seed", 1)), { drop: 0, duplicate: 0, maxDelay: 1 }, {
            electionTick: num("electionTick", 15),
            heartbeatTick: num("heartbeatTick", 5),
            snapshotChunkBytes: num("chunk", 256),
            snapshotEvery: num("snapshotEvery", 1_000_000),
            keepBehindSnapshot: num("keep", 0),
          });
          for (const id of kv["down"] === undefined ? [] : ids(kv["down"])) c.crash(c.node(id));
          c.stabilize();
          return;
        }
        case "campaign":
          cluster().node(Number(args[0])).raft!.campaign();
          cluster().process(cluster().node(Number(args[0])));
          return;
        case "propose":
          if (cluster().propose(cluster().node(Number(args[0])), args[1]!) === null) throw new Error("proposal rejected");
          return;
        case "propose-leader": {
          const leader = cluster().leaders()[0];
          if (leader === undefined || cluster().propose(leader, args[0]!) === null) throw new Error("no leader to propose to");
          return;
        }
        case "propose-rejected": {
          const n = cluster().node(Number(args[0]));
          try {
            n.raft!.propose(new TextEncoder().encode("rejected"));
          } catch (err) {
            if (isRaftError(err, args[1] as never)) return;
            throw err;
          }
          throw new Error("proposal was accepted");
        }
        case "transfer": {
          const n = cluster().node(Number(args[0]));
          n.raft!.transferLeadership(args[1] === undefined ? undefined : Number(args[1]));
          cluster().process(n);
          return;
        }
        case "stabilize":
          cluster().stabilize();
          return;
        case "tick":
          for (let i = 0; i < Number(args[1]); i++) {
            cluster().tickNodes(ids(args[0]));
            cluster().stabilize();
          }
          return;
        case "isolate": {
          const id = Number(args[0]);
          cluster().net.split([id], cluster().voters.filter((v) => v !== id));
          return;
        }
        case "partition":
          cluster().net.split(ids(args[0]), ids(args[1]));
          return;
        case "heal":
          cluster().net.heal();
          return;
        case "crash":
          cluster().crash(cluster().node(Number(args[0])));
          return;
        case "restart":
          cluster().start(cluster().node(Number(args[0])));
          return;
        case "wipe": {
          const n = cluster().node(Number(args[0]));
          cluster().crash(n);
          n.wipe();
          cluster().start(n);
          return;
        }
        case "expect-leader": {
          const group = ids(args[0]).map((id) => cluster().node(id));
          const leaders = group.filter((n) => n.status()?.role === "leader");
          if (leaders.length !== 1) throw new Error(`expected one leader among ${args[0]}, found ${leaders.length}`);
          const lead = leaders[0]!.status()!;
          for (const n of group) {
            const st = n.status();
            if (st !== null && (st.leader !== lead.id || st.term !== lead.term)) {
              throw new Error(`node ${n.id} follows ${st.leader} in term ${st.term}, not ${lead.id} in term ${lead.term}`);
            }
          }
          return;
        }
        case "expect":
          for (const id of ids(args[0])) expectNode(cluster().node(id), pairs);
          return;
        default:
          throw new Error(`unknown command ${cmd}`);
      }
    } catch (err) {
      throw new Error(`${where}\n  ${(err as Error).message}`, { cause: err });
    }
  });
}

function expectNode(n: SimNode, pairs: ReadonlyArray<[string, string]>): void {
  const st = n.status();
  for (const [k, want] of pairs) {
    let got: string;
    if (k === "has" || k === "missing") {
      const present = n.state.entries.some(([, key]) => key.endsWith(`/normal/${want}`));
      if (present !== (k === "has")) throw new Error(`node ${n.id}: expected ${k}=${want}`);
      continue;
    }
    if (k === "up") got = String(st !== null);
    else if (st === null) throw new Error(`node ${n.id} is down`);
    else if (k === "vote") got = String(n.disk.initialState().vote);
    else got = String((st as unknown as Record<string, unknown>)[k]);
    if (got !== want) throw new Error(`node ${n.id}: expected ${k}=${want}, got ${got} (${JSON.stringify(st)})`);
  }
}
