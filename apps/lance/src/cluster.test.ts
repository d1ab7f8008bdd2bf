/**
 * The cluster issue's "Prove it" section with real `lance` processes on loopback (the built
 * dist/main.js; run `pnpm build` first): leader failover under load with SIGKILL, a partitioned
 * leader, a wiped follower rebuilt from a snapshot, a rolling restart under load, and L1 mode.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { Connection, encodeTlv } from "@lance/client";
import { SequencedLoad, TestCluster, closeAllClusters, median, sleep, waitFor } from "./test-cluster.js";

const LNC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "lnc", "dist", "main.js");
const run = promisify(execFile);

/** One TLV-framed record. */
function encodeRecord(text: string): Uint8Array {
  return encodeTlv([new TextEncoder().encode(text)]);
}

/** `lnc cluster-status --server address --json`: exit code and the parsed JSON. */
async function lncStatus(address: string): Promise<{ code: number; stdout: string; json: Record<string, unknown> & { leaderId: number | null; raft?: unknown } }> {
  const r = await run(process.execPath, [LNC, "cluster-status", "--server", address, "--json"]).then(
    (ok) => ({ code: 0, stdout: ok.stdout }),
    (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
  );
  return { ...r, json: JSON.parse(r.stdout) as never };
}

let current: TestCluster | null = null;
let load: SequencedLoad | null = null;

afterEach(async (ctx) => {
  load?.close();
  load = null;
  if (current && ctx.task.result?.state === "fail") console.log(current.dumpLogs(60));
  current = null;
  await closeAllClusters();
});

function report(label: string, r: Awaited<ReturnType<SequencedLoad["check"]>>["result"], l: SequencedLoad): void {
  console.log(
    `${label}: produced ${r.produced}, acked ${r.acked}, failed ${r.failed}, consumed ${r.consumed} (${r.unique_consumed} distinct), ` +
      `lost (acked, not read back) ${r.gaps}, duplicates ${r.duplicates} (after an ambiguous attempt ${r.duplicates_after_retry}, unexplained ${r.duplicates_unexplained}), ` +
      `order errors ${r.order_errors}, client retries ${l.retries}, ambiguous attempts ${r.ambiguous_attempts}`,
  );
  if (l.errors.length) console.log(`${label}: ${l.errors.length} send(s) failed for good, first: ${l.errors.slice(0, 3).join(" | ")}`);
}

describe.sequential("lance cluster (3 processes, loopback)", () => {
  it("SIGKILL of the leader under load: a new leader accepts writes; no acked record lost, duplicated or reordered", async () => {
    const c = (current = await TestCluster.start());
    const topic = await c.ensureTopic("failover");
    load = new SequencedLoad(c.addresses, topic).start();
    await load.waitAcks(50);
    const ackTimes: number[] = [];
    const statusTimes: number[] = [];
    for (let round = 1; round <= 3; round++) {
      const old = await c.waitLeader();
      await load.waitAcks(20);
      const oldAddress = c.node(old).address;
      const killedAt = performance.now();
      c.node(old).proc!.kill("SIGKILL");
      // A survivor reports a new leader (polled every 10 ms) ...
      const statusAt = await waitFor(
        "a survivor naming a new leader",
        async () => {
          for (const n of c.nodes) {
            if (n.id === old) continue;
            const s = await c.status(n.id, 500).catch(() => null);
            if (s && s.leaderId !== null && s.leaderId !== old) return performance.now();
          }
          return null;
        },
        10_000,
        10,
      );
      // ... and the first write acknowledged by it (not an in-flight ack of the old leader).
      const ack = await waitFor("an ack from the new leader", () => load!.acks.find((a) => a.at > killedAt && a.server !== oldAddress), 10_000, 5);
      await c.node(old).exited;
      ackTimes.push(ack.at - killedAt);
      statusTimes.push(statusAt - killedAt);
      console.log(`failover round ${round}: killed leader ${old}; new leader in status after ${(statusAt - killedAt).toFixed(0)} ms, first ack by ${ack.server} after ${(ack.at - killedAt).toFixed(0)} ms`);
      expect(ack.at - killedAt).toBeLessThan(10_000);
      await c.startNode(old);
      await load.waitAcks(20);
      await c.waitCaughtUp();
    }
    console.log(
      `failover (SIGKILL leader -> first ack by the new leader): ${ackTimes.map((t) => t.toFixed(0)).join(", ")} ms, median ${median(ackTimes).toFixed(0)} ms; ` +
        `(-> survivor status names a new leader): ${statusTimes.map((t) => t.toFixed(0)).join(", ")} ms, median ${median(statusTimes).toFixed(0)} ms`,
    );
    await load.stop();
    // Followers learn the last commit with the leader's next message: read once all applied it.
    await c.waitCaughtUp();
    const { result, problems } = await load.check();
    report("failover", result, load);
    expect(problems, JSON.stringify({ ...result, errors: load.errors.slice(0, 5) })).toEqual([]);
    expect(result.gaps).toBe(0);
    expect(result.duplicates_unexplained).toBe(0);
    expect(result.order_errors).toBe(0);
    expect(result.failed).toBe(0);
    await c.waitConverged(topic);
  }, 90_000);

  it("partition: the isolated leader refuses writes and reports not ready, the majority elects a leader and keeps writing; after healing all converge", async () => {
    const c = (current = await TestCluster.start({ proxies: true, health: true }));
    const topic = await c.ensureTopic("partition");
    load = new SequencedLoad(c.addresses, topic).start();
    await load.waitAcks(100);
    const old = await c.waitLeader();
    for (const n of c.nodes) expect((await c.healthReady(n.id)).status).toBe(200);
    const mark = c.node(old).logs.length;
    const isolatedAt = performance.now();
    c.isolate(old);

    // The isolated node notices within ~1-2 s, says so in its log and /health/ready, and refuses writes.
    await waitFor(`node ${old} logging "Quorum lost, entering read-only mode"`, () => c.logSince(old, mark, "Quorum lost, entering read-only mode"), 5_000, 10);
    const quorumLostMs = performance.now() - isolatedAt;
    expect(quorumLostMs).toBeLessThan(3_000);
    const health = await c.healthReady(old);
    expect(health.status).toBe(503);
    expect(health.body).toContain("Quorum lost");
    const direct = await Connection.connect(c.node(old).address, { connectTimeoutMs: 1_000, requestTimeoutMs: 5_000 });
    const t0 = performance.now();
    const refusal = await direct.ingest(topic, new Uint8Array(encodeRecord("minority write")), 1).then(
      () => null,
      (err: Error) => err,
    );
    const refusedMs = performance.now() - t0;
    direct.close();
    expect(refusal, "a write to the isolated node must be refused").not.toBeNull();
    expect(refusal!.message).toMatch(/NO_QUORUM|NOT_LEADER/);
    expect(refusedMs).toBeLessThan(2_000);
    const st = await c.status(old);
    expect(st.isLeader).toBe(false);
    const lncIsolated = await lncStatus(c.node(old).address);
    expect(lncIsolated.code, lncIsolated.stdout).toBe(1);
    expect(lncIsolated.json.leaderId).toBeNull();
    console.log(`partition: isolated node ${old} status: leader ${st.leaderId}, quorum_available ${st.quorumAvailable}, healthy_nodes ${st.healthyNodes}, peer_states ${JSON.stringify(st.peerStates)}, role ${st.raft?.role}`);

    // The majority elects a new leader and keeps accepting writes (the client moves over).
    const fresh = await c.waitLeader({ exclude: [old] });
    expect(fresh).not.toBe(old);
    const electedMs = performance.now() - isolatedAt;
    await load.waitAcks(100);
    const during = await c.ensureTopic("created-during-partition", c.nodes.map((n) => n.id).filter((id) => id !== old));
    for (const n of c.nodes) if (n.id !== old) expect((await c.healthReady(n.id)).status).toBe(200);
    expect((await c.healthReady(old)).status).toBe(503);
    console.log(`partition: node ${old} logged quorum loss after ${quorumLostMs.toFixed(0)} ms, refused a write in ${refusedMs.toFixed(0)} ms with "${refusal!.message}"; majority leader ${fresh} after ${electedMs.toFixed(0)} ms`);

    // Heal: the old leader rejoins as a follower and every node serves identical content.
    c.healAll();
    await waitFor(`node ${old} ready again`, async () => (await c.healthReady(old)).status === 200, 15_000, 50);
    await load.waitAcks(100);
    await load.stop();
    await c.waitCaughtUp();
    const digest = await c.waitConverged(topic);
    await c.waitConverged(during);
    const { result, problems } = await load.check();
    report("partition", result, load);
    console.log(`partition: converged, topic ${topic} end offset ${digest.end}, ${digest.bytes} bytes, sha256 ${digest.sha256}`);
    expect(problems, JSON.stringify({ ...result, errors: load.errors.slice(0, 5) })).toEqual([]);
    expect(result.gaps).toBe(0);
    expect(result.duplicates_unexplained).toBe(0);
    expect(result.order_errors).toBe(0);
    const healed = await c.waitLeader();
    // After healing, `lnc cluster-status --json` on every node: one leader, quorum, exit 0.
    await waitFor("lnc cluster-status healthy on every node", async () => {
      for (const n of c.nodes) {
        const r = await lncStatus(n.address);
        if (r.code !== 0 || r.json.leaderId !== healed) return null;
      }
      return true;
    }, 15_000, 200);
    const onLeader = await lncStatus(c.node(healed).address);
    console.log(`partition: lnc cluster-status on leader ${healed} after healing: ${JSON.stringify(onLeader.json.raft)}`);
  }, 90_000);

  it("a wiped follower (same id, empty disk) is rebuilt from a snapshot plus the log: full history, verify-data passes, identical content", async () => {
    const c = (current = await TestCluster.start());
    const topic = await c.ensureTopic("wipe");
    load = new SequencedLoad(c.addresses, topic, { size: 1024 }).start();
    await load.waitAcks(800, 30_000);
    const leader = await c.waitLeader();
    const victim = c.nodes.find((n) => n.id !== leader)!.id;
    await c.kill(victim, "SIGKILL");
    c.wipe(victim);
    expect(existsSync(c.node(victim).dataDir)).toBe(false);
    await load.waitAcks(200);
    // Let the survivors checkpoint (every 1 s), then restart them one at a time: their Raft
    // log now starts at the checkpoint, so the empty node cannot be served from the log alone.
    await sleep(1_500);
    for (const n of c.nodes) {
      if (n.id === victim) continue;
      expect(await c.kill(n.id, "SIGTERM")).toBe(0);
      await c.startNode(n.id);
      await c.waitLeader({ exclude: [victim] });
      await load.waitAcks(50);
    }
    const mark = c.node(victim).logs.length;
    const started = performance.now();
    await c.startNode(victim);
    await waitFor(`node ${victim} "snapshot installed"`, () => c.logSince(victim, mark, "snapshot installed"), 20_000, 20);
    const installed = JSON.parse(c.logSince(victim, mark, "snapshot installed")!) as { index: number; ms: number };
    await load.waitAcks(100);
    await load.stop();
    await c.waitCaughtUp();
    const digest = await c.waitConverged(topic);
    console.log(`wipe: node ${victim} rebuilt (snapshot at index ${installed.index}, ${installed.ms} ms to install) and caught up ${(performance.now() - started).toFixed(0)} ms after start; topic end ${digest.end}, ${digest.bytes} B identical on all nodes`);
    // Everything acknowledged, read back from the rebuilt node alone.
    const { result, problems } = await load.check(c.node(victim).address);
    report("wipe (read from the rebuilt node)", result, load);
    expect(problems, JSON.stringify({ ...result, errors: load.errors.slice(0, 5) })).toEqual([]);
    expect(result.gaps).toBe(0);
    // Offline check of its data dir.
    expect(await c.kill(victim, "SIGTERM")).toBe(0);
    const verify = await run(process.execPath, [LNC, "verify-data", "--path", c.node(victim).dataDir, "--topic", "wipe"]).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect(verify.stderr, verify.stdout).toBe("");
    expect((verify as { code?: number }).code ?? 0).toBe(0);
    console.log(`wipe: lnc verify-data on node ${victim}: ${verify.stdout.trim().split("\n").slice(-2).join(" / ")}`);
  }, 120_000);

  it("rolling restart (SIGTERM, restart, catch up; each node in turn) under continuous produce: no acked record lost or duplicated", async () => {
    const c = (current = await TestCluster.start());
    const topic = await c.ensureTopic("rolling");
    load = new SequencedLoad(c.addresses, topic).start();
    await load.waitAcks(100);
    const leader = await c.waitLeader();
    // Followers first, the leader last (the usual operator order); the leader's SIGTERM is a handover under load.
    const order = [...c.nodes.map((n) => n.id).filter((id) => id !== leader), leader];
    for (const id of order) {
      const t0 = performance.now();
      expect(await c.kill(id, "SIGTERM"), `node ${id} exit code after SIGTERM`).toBe(0);
      const stopped = performance.now() - t0;
      await load.waitAcks(30);
      await c.startNode(id);
      await c.waitCaughtUp();
      await load.waitAcks(30);
      console.log(`rolling: node ${id}${id === leader ? " (leader)" : ""} drained in ${stopped.toFixed(0)} ms, back and caught up after ${(performance.now() - t0).toFixed(0)} ms; acked so far ${load.acked}`);
    }
    await load.stop();
    await c.waitCaughtUp();
    await c.waitConverged(topic);
    const { result, problems } = await load.check();
    report("rolling restart", result, load);
    expect(problems, JSON.stringify({ ...result, errors: load.errors.slice(0, 5) })).toEqual([]);
    expect(result.gaps).toBe(0);
    expect(result.duplicates_unexplained).toBe(0);
    expect(result.order_errors).toBe(0);
    expect(result.failed).toBe(0);
  }, 120_000);

  it("L1 mode: a 3-node cluster with --replication-mode l1 accepts writes and replicates them", async () => {
    const c = (current = await TestCluster.start({ mode: "l1" }));
    const topic = await c.ensureTopic("l1");
    load = new SequencedLoad(c.addresses, topic).start();
    await load.waitAcks(300);
    await load.stop();
    const leader = await c.waitLeader();
    const st = await c.status(leader);
    expect(st.raft?.replicationMode.toLowerCase()).toBe("l1");
    await c.waitCaughtUp();
    const digest = await c.waitConverged(topic);
    for (const n of c.nodes) {
      const { result, problems } = await load.check(n.address);
      expect(problems, `node ${n.id}`).toEqual([]);
      expect(result.gaps, `node ${n.id}`).toBe(0);
    }
    console.log(`l1: ${load.acked} acked records on all 3 nodes, topic end ${digest.end}, ${digest.bytes} B identical`);
  }, 60_000);
});
