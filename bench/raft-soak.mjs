#!/usr/bin/env node
// Raft simulator soak: runs many seeded chaos scenarios (crashes, empty-disk restarts,
// partitions, loss, duplication, reordering, clients proposing) and checks election safety,
// log matching, leader completeness, state machine safety, durability of acknowledged
// proposals and liveness after healing. Every failure prints the command that replays it.
//   node bench/raft-soak.mjs --seeds 5000 --from 1 [--nodes 3|5] [--crash-rate 0.004] [--fault-ticks 600]
//   node bench/raft-soak.mjs --seed 1234 [same options]      replay one seed, print its full result
//   node bench/raft-soak.mjs --seed 1234 --trace [--messages]  ...with its event log (and every message)
// Build first: pnpm --filter @lance/raft build
import { parseArgs } from "node:util";
import { sim } from "@lance/raft";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1000" },
    from: { type: "string", default: "1" },
    seed: { type: "string" },
    nodes: { type: "string" },
    "crash-rate": { type: "string" },
    "fault-ticks": { type: "string" },
    trace: { type: "boolean", default: false },
    messages: { type: "boolean", default: false },
  },
});

const options = {};
if (values.nodes !== undefined) options.nodes = Number(values.nodes);
if (values["crash-rate"] !== undefined) options.crashRate = Number(values["crash-rate"]);
if (values["fault-ticks"] !== undefined) options.faultTicks = Number(values["fault-ticks"]);
const extraFlags = Object.entries({ nodes: values.nodes, "crash-rate": values["crash-rate"], "fault-ticks": values["fault-ticks"] })
  .filter(([, v]) => v !== undefined)
  .map(([k, v]) => ` --${k} ${v}`)
  .join("");

if (values.seed !== undefined) {
  const trace = values.trace || values.messages ? (line) => console.log(line) : undefined;
  const r = sim.runScenario({ ...options, seed: Number(values.seed), trace, traceMessages: values.messages });
  console.log(JSON.stringify(r, null, 2));
  process.exit(r.ok ? 0 : 1);
}

const from = Number(values.from);
const count = Number(values.seeds);
const started = Date.now();
const faults = { crashes: 0, leaderCrashes: 0, wipes: 0, partitions: 0, transfers: 0, tornReadyCrashes: 0, dropped: 0, duplicated: 0, blocked: 0 };
const elect = [];
const failed = [];
let proposals = 0;
let acked = 0;
let snapshots = 0;
let ticks = 0;
let maxHeal = 0;
const bySize = { 3: 0, 5: 0 };

for (let seed = from; seed < from + count; seed++) {
  const r = sim.runScenario({ ...options, seed });
  for (const k of Object.keys(faults)) faults[k] += r.faults[k];
  elect.push(...r.electionAfterLeaderCrash);
  proposals += r.proposals;
  acked += r.acked;
  snapshots += r.snapshotsInstalled;
  ticks += r.ticks;
  bySize[r.nodes] = (bySize[r.nodes] ?? 0) + 1;
  if (r.ok) maxHeal = Math.max(maxHeal, r.healTicks);
  else {
    failed.push(r);
    console.log(`FAIL seed ${seed}: ${r.failure}\n  replay: node bench/raft-soak.mjs --seed ${seed}${extraFlags}`);
  }
  if ((seed - from + 1) % 1000 === 0) console.error(`... ${seed - from + 1}/${count} seeds, ${failed.length} failed`);
}

elect.sort((a, b) => a - b);
const pct = (p) => elect[Math.min(elect.length - 1, Math.floor((elect.length * p) / 100))] ?? NaN;
const mean = elect.reduce((a, b) => a + b, 0) / elect.length;
const injected = faults.crashes + faults.wipes + faults.partitions + faults.transfers + faults.tornReadyCrashes + faults.dropped + faults.duplicated;
console.log(`seeds run:        ${count} (${from}..${from + count - 1}; ${bySize[3]} three-node, ${bySize[5]} five-node clusters)`);
console.log(`failed seeds:     ${failed.length}${failed.length ? " (" + failed.map((r) => r.seed).join(", ") + ")" : ""}`);
console.log(`faults injected:  ${injected} = ${faults.crashes} crashes (${faults.leaderCrashes} of a sole leader), ${faults.wipes} empty-disk restarts, ${faults.partitions} partitions, ${faults.transfers} leadership transfers, ${faults.tornReadyCrashes} crashes between persist and send, ${faults.dropped} dropped + ${faults.duplicated} duplicated messages (+ ${faults.blocked} cut by partitions; every message delayed 1..3 ticks, so reordered)`);
console.log(`election after a leader crash: mean ${mean.toFixed(1)} ticks, median ${pct(50)}, p99 ${pct(99)}, max ${elect[elect.length - 1]} (${elect.length} samples; at a 10 ms tick: mean ${(mean * 10).toFixed(0)} ms)`);
console.log(`proposals:        ${proposals} made, ${acked} acknowledged, all acknowledged ones applied on every node after healing`);
console.log(`snapshots:        ${snapshots} InstallSnapshot transfers completed`);
console.log(`after healing:    converged within ${maxHeal} ticks at most (bound 1500)`);
console.log(`simulated:        ${ticks} ticks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed.length === 0 ? 0 : 1);
