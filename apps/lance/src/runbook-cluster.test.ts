/**
 * The cluster sections of ../shared/runbook/RecoveryProcedures.md (5, 6.1, 6.2 steps 4-5, 8.1)
 * run as written against three real `lance` processes on loopback (test-cluster.ts). As in
 * runbook.test.ts, `systemctl start|stop|restart lance` is starting, SIGTERM-ing or restarting
 * the node's process, `<healthy_node>:1992` is a node's client address, `/data/lance` its data
 * dir, and `ssh $node "…"` runs the command for that node.
 */
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TopicReader } from "@lance/index";
import { Connection, decodeTlv, encodeTlv } from "@lance/client";
import { killAllLance, startLance, type RunningLance } from "./test-lance.js";
import { runbook, substitute } from "./test-runbook.js";
import { SequencedLoad, TestCluster, closeAllClusters, waitFor } from "./test-cluster.js";

const temps: string[] = [];
/** A temp dir removed after the test. */
function temp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

afterEach(async () => {
  killAllLance();
  await closeAllClusters();
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

const RUNBOOK: Record<string, string> = {
  "5.1/status": "lnc cluster-status --server <healthy_node>:1992",
  "5.2/start": "systemctl start lance",
  "5.2/status": "lnc cluster-status --server <recovered_node>:1992",
  "5.3/status": "lnc cluster-status --server <any_node>:1992",
  "6.1/stop": "systemctl stop lance  # on stale nodes",
  "6.1/export": "lnc export-topic --path /data/lance --topic <topic_name> --output /backup/stale_data.lance",
  "6.1/wipe": "rm -rf /data/lance/*",
  "6.2/standalone": "lance --standalone --data-dir /data/lance",
  "6.2/import": "lnc import-topic --path /data/lance --name <topic_name> --input /backup/topic.lance",
  "6.2/restart": "systemctl restart lance",
  "8.1/stop": 'ssh $node "systemctl stop lance"',
};
const cmd = (step: string): string => RUNBOOK[step] ?? (() => { throw new Error(`no runbook step ${step}`); })();
const RUNBOOK_MD = "/work/shared/runbook/RecoveryProcedures.md";
const TOPIC = "orders";

describe("runbook text (cluster sections)", () => {
  it.skipIf(!existsSync(RUNBOOK_MD))("every command line this test runs appears verbatim in RecoveryProcedures.md", () => {
    const md = readFileSync(RUNBOOK_MD, "utf8");
    for (const [step, line] of Object.entries(RUNBOOK)) expect(md, step).toContain(line);
  });
});

/** `lnc cluster-status --server …` as written, with the node's address; parsed --json alongside. */
async function clusterStatus(step: string, placeholder: string, address: string) {
  const text = await runbook(cmd(step), { [`${placeholder}:1992`]: address });
  const json = await runbook(`${cmd(step)} --json`, { [`${placeholder}:1992`]: address });
  return { ...text, json: JSON.parse(json.out) as { leaderId: number | null; currentTerm: number; healthy: boolean; problems: string[] } };
}

async function produceSome(c: TestCluster, topicId: number, n: number): Promise<SequencedLoad> {
  const load = new SequencedLoad(c.addresses, topicId).start();
  await load.waitAcks(n);
  await load.stop();
  return load;
}

async function expectClean(load: SequencedLoad, server: string): Promise<void> {
  const { problems, result } = await load.check(server);
  expect(problems, JSON.stringify(result)).toEqual([]);
}

describe("runbook 5 node failure recovery", () => {
  it("5.1 leader killed: cluster-status on a healthy node names the new leader (exit 1 while a node is down), writes continue; 0 once it is back", { timeout: 90_000 }, async () => {
    const c = await TestCluster.start();
    const topic = await c.ensureTopic(TOPIC);
    await produceSome(c, topic, 50);
    const old = await c.waitLeader();
    await c.kill(old);
    const healthy = c.nodes.find((n) => n.id !== old)!;
    // 1. Check cluster status from any healthy node: the new leader, and why it is not healthy.
    const st = await waitFor("a new leader in cluster-status", async () => {
      const s = await clusterStatus("5.1/status", "<healthy_node>", healthy.address);
      // Two invocations: keep the answer only when both saw the same leader.
      return s.json.leaderId !== null && s.json.leaderId !== old && s.out.includes(`Leader:    ${s.json.leaderId}\n`) ? s : null;
    });
    expect(st.code).toBe(1);
    expect(st.out).toContain("under-replicated: 2 of 3 nodes reachable");
    // 4. The majority elected on its own: writes go on.
    const load = await produceSome(c, topic, 50);
    await c.waitCaughtUp();
    await expectClean(load, healthy.address);
    await c.startNode(old);
    const back = await waitFor("a healthy cluster", async () => {
      const s = await clusterStatus("5.1/status", "<healthy_node>", healthy.address);
      return s.code === 0 ? s : null;
    });
    expect(back.out).toContain("✓ Cluster healthy");
  });

  it("5.2 follower restarted: systemctl start lance; it receives what it missed and cluster-status on it is healthy", { timeout: 90_000 }, async () => {
    const c = await TestCluster.start();
    const topic = await c.ensureTopic(TOPIC);
    const leader = await c.waitLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    await c.kill(follower.id);
    const missed = await produceSome(c, topic, 200);
    // 1. Start the failed node.
    await c.startNode(follower.id);
    expect(cmd("5.2/start")).toBe("systemctl start lance");
    // 3. Verify node health.
    const st = await waitFor("the recovered node healthy", async () => {
      const s = await clusterStatus("5.2/status", "<recovered_node>", follower.address);
      return s.code === 0 ? s : null;
    });
    expect(st.out).toContain(`Node ${follower.id} at ${follower.address}`);
    await c.waitCaughtUp();
    const digest = await c.waitConverged(topic);
    expect(digest.end).toBeGreaterThanOrEqual(BigInt(missed.acked));
    await expectClean(missed, follower.address);
  });

  it("5.3 node replaced (same id, empty disk, peers in lance.toml): it receives the full state; cluster-status on any node is healthy", { timeout: 120_000 }, async () => {
    const c = await TestCluster.start();
    const topic = await c.ensureTopic(TOPIC);
    const history = await produceSome(c, topic, 300);
    const leader = await c.waitLeader();
    const failed = c.nodes.find((n) => n.id !== leader)!;
    await c.kill(failed.id);
    // The new machine: a fresh data dir and a lance.toml naming every node (cluster.peers).
    const machine = temp("lance-replacement-");
    const toml = join(machine, "lance.toml");
    writeFileSync(
      toml,
      [
        `node_id = ${failed.id}`,
        `data_dir = "${join(machine, "data")}"`,
        `listen_addr = "${failed.address}"`,
        `replication_addr = "127.0.0.1:${failed.replPort}"`,
        "",
        "[cluster]",
        `peers = [${c.nodes.map((n) => `"${n.id}@127.0.0.1:${n.replPort}"`).join(", ")}]`,
        "",
      ].join("\n"),
    );
    // 2. Start the new node.
    const replacement: RunningLance = await startLance(["--config", toml, "--listen", failed.address]);
    // 3. It receives the full state via replication (a snapshot of the segments, then the log).
    await waitFor("the replacement to hold the full history", async () => {
      const conn = await Connection.connect(failed.address, { connectTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
      try {
        return (await conn.endOffset(topic)) >= BigInt(history.acked) ? true : null;
      } finally {
        conn.close();
      }
    }, 30_000);
    // (From the leader's log when it still holds everything in memory, else by a snapshot first.)
    expect(replacement.logs.join("\n")).toContain("empty disk: rejoining the cluster");
    // 4. Verify cluster health from any node.
    for (const n of c.nodes) {
      await waitFor(`cluster-status on node ${n.id}`, async () => ((await clusterStatus("5.3/status", "<any_node>", n.address)).code === 0 ? true : null));
    }
    await expectClean(history, failed.address);
    const v = await runbook(`lnc verify-data --path ${join(machine, "data")} --topic ${TOPIC}`, {});
    expect(v.code, v.out).toBe(0);
  });
});

describe("runbook 6 cluster recovery", () => {
  it("6.1 split-brain: the cut-off L1 leader acked writes alone; higher term wins; stop, export (its divergent writes too), wipe, restart: it resyncs", { timeout: 120_000 }, async () => {
    const c = await TestCluster.start({ proxies: true, mode: "l1" });
    const topic = await c.ensureTopic(TOPIC);
    const before = await produceSome(c, topic, 50);
    const stale = c.node(await c.waitLeader());
    c.isolate(stale.id);
    // Symptom: two nodes accepting writes. The cut-off leader acks L1 writes on its own fsync
    // until check-quorum deposes it; the majority elects a leader of a higher term.
    const conn = await Connection.connect(stale.address, { connectTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    const alone: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const value = `stale-${i}`;
      try {
        await conn.ingest(topic, encodeTlv([Buffer.from(value)]), 1);
      } catch {
        break;
      }
      alone.push(value);
    }
    conn.close();
    expect(alone.length).toBeGreaterThan(0);
    const majority = c.nodes.filter((n) => n !== stale).map((n) => n.id);
    const fresh = c.node(await c.waitLeader({ exclude: [stale.id] }));
    const after = new SequencedLoad([fresh.address], topic).start();
    await after.waitAcks(50);
    await after.stop();

    // 1. Higher term is authoritative.
    const staleView = await clusterStatus("5.1/status", "<healthy_node>", stale.address);
    const freshView = await clusterStatus("5.1/status", "<healthy_node>", fresh.address);
    expect(freshView.json.currentTerm).toBeGreaterThan(staleView.json.currentTerm);
    expect(staleView.json.leaderId).toBeNull();

    // 2. Stop the stale node: its unconfirmed writes are kept in divergent/.
    expect(await c.kill(stale.id, "SIGTERM")).toBe(0);
    expect(cmd("6.1/stop").startsWith("systemctl stop lance")).toBe(true);

    // 3. Export: the topic as written, and its unique (divergent) data with --divergent.
    const backup = temp("lance-6-1-backup-");
    const subst = { "/data/lance": stale.dataDir, "/backup": backup, "<topic_name>": TOPIC };
    const exp = await runbook(cmd("6.1/export"), subst);
    expect(exp.code, exp.out + exp.err).toBe(0);
    const div = await runbook(`${substitute(cmd("6.1/export"), subst).replace("stale_data.lance", "stale_divergent.lance")} --divergent`, {});
    expect(div.code, div.out + div.err).toBe(0);
    // The divergent export holds exactly what the stale leader acknowledged alone.
    const scratch = temp("lance-6-1-merge-");
    const imp = await runbook(`lnc import-topic --path ${scratch} --name ${TOPIC}-divergent --input ${join(backup, "stale_divergent.lance")}`, {});
    expect(imp.code, imp.out + imp.err).toBe(0);
    // Plus, possibly, the write whose attempt ended the loop (stored, answered with an error)
    // and a producer's record still in flight when the partition began (never acknowledged).
    const kept = (await readValues(join(scratch, "segments", `${TOPIC}-divergent`))).filter((v) => v.startsWith("stale-"));
    expect(kept.slice(0, alone.length)).toEqual(alone);
    expect(kept.length).toBeLessThanOrEqual(alone.length + 1);

    // 4. Wipe the stale data. 5. Restart: it syncs from the authoritative partition.
    const wipe = await runbook(cmd("6.1/wipe"), subst);
    expect(wipe.code).toBe(0);
    expect(readdirSync(stale.dataDir)).toEqual([]);
    c.healAll();
    await c.startNode(stale.id);
    await c.waitCaughtUp();
    const digest = await c.waitConverged(topic, [...majority, stale.id]);
    expect(digest.end).toBe(BigInt(before.acked + after.acked));
    await expectClean(after, stale.address);
  });

  it("6.2 steps 4-5: a standalone node restored from backup restarts in cluster mode with the other nodes started from a copy of its data dir", { timeout: 120_000 }, async () => {
    const c = await TestCluster.start();
    const topic = await c.ensureTopic(TOPIC);
    const history = await produceSome(c, topic, 200);
    const one = c.node(1);
    const backup = temp("lance-6-2-backup-");
    await c.waitCaughtUp();
    const exp = await runbook(`lnc export-topic --path ${one.dataDir} --topic ${TOPIC} --output ${join(backup, "topic.lance")}`, {});
    expect(exp.code, exp.out + exp.err).toBe(0);
    // Total cluster loss.
    for (const n of c.nodes) {
      await c.kill(n.id);
      c.wipe(n.id);
    }
    for (const n of c.nodes) mkdirSync(n.dataDir, { recursive: true });
    const subst = { "/data/lance": one.dataDir, "/backup": backup, "<topic_name>": TOPIC };
    // 1. Start one node as standalone. 2. Import backup data.
    const standalone = await startLance([...substitute(cmd("6.2/standalone"), subst).split(" ").slice(1), "--listen", one.address]);
    const imp = await runbook(cmd("6.2/import"), subst);
    expect(imp.code, imp.out + imp.err).toBe(0);
    // 4. Stop standalone mode, restart in cluster mode. 5. Add remaining nodes to the cluster:
    // two empty disks next to one full one look like a majority that lost its data, which Raft
    // will not elect over (docs/raft.md, node replacement), so the new nodes start from a copy
    // of the restored node's data dir (docs/operations.md 6.2).
    standalone.proc.kill("SIGTERM");
    expect(await standalone.exited).toBe(0);
    expect(cmd("6.2/restart")).toBe("systemctl restart lance");
    for (const n of [c.node(2), c.node(3)]) {
      const copy = await runbook(`rsync -a /data/lance/ ${n.dataDir}/ 2>/dev/null || cp -a /data/lance/. ${n.dataDir}/`, { "/data/lance": one.dataDir });
      expect(copy.code, copy.err).toBe(0);
    }
    await c.startNode(1);
    await c.startNode(2);
    await c.startNode(3);
    await c.waitLeader();
    const imported = await waitFor("the imported topic on node 1", async () => {
      const conn = await Connection.connect(one.address, { connectTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
      try {
        const body = await conn.topicCommand({ type: "listTopics" });
        return body.kind === "topics" ? (body.topics.find((t) => t.name === TOPIC)?.id ?? null) : null;
      } finally {
        conn.close();
      }
    });
    const digest = await c.waitConverged(imported, [1, 2, 3], 30_000);
    expect(digest.end).toBe(BigInt(history.acked));
    await expectClean(history, c.node(3).address);
    // And the cluster takes writes again.
    const more = await produceSome(c, imported, 20);
    await c.waitCaughtUp();
    await expectClean(more, c.node(2).address);
  });
});

describe("runbook 8.1 emergency stop", () => {
  it('for node in node1 node2 node3; do ssh $node "systemctl stop lance"; done: every node drains and exits 0; nothing acknowledged is lost', { timeout: 90_000 }, async () => {
    const c = await TestCluster.start();
    const topic = await c.ensureTopic(TOPIC);
    const load = new SequencedLoad(c.addresses, topic).start();
    await load.waitAcks(100);
    // The loop, one node after the other (ssh $node runs the stop on that node).
    for (const n of c.nodes) expect(await c.kill(n.id, "SIGTERM"), c.dumpLogs()).toBe(0);
    // The producer stops too (its last send, to nodes that are all gone, counts as failed).
    load.close();
    await load.stop().catch(() => undefined);
    for (const n of c.nodes) await c.startNode(n.id);
    await c.waitLeader();
    await c.waitConverged(topic);
    const { result } = await load.check(c.node(1).address);
    expect(result.gaps).toBe(0);
    expect(result.duplicates_unexplained).toBe(0);
  });
});

/** Every record value of a topic directory, in offset order (records are TLV: u32 length + bytes). */
async function readValues(dir: string): Promise<string[]> {
  const reader = new TopicReader(dir);
  const out: string[] = [];
  let offset = 0;
  for (;;) {
    const res = await reader.read(offset, 1 << 20);
    if (res.batches.length === 0) break;
    for (const b of res.batches) out.push(...tlvValues(Buffer.from(b.payload)));
    offset = res.batches[res.batches.length - 1]!.nextOffset;
  }
  await reader.close();
  return out;
}

function tlvValues(buf: Buffer): string[] {
  return decodeTlv(buf).map((r) => Buffer.from(r.value).toString());
}
