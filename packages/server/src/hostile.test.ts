import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { verifyTopic } from "@lance/index";
import { createServer, type LanceServer } from "./server.js";
import { GoodClient, type GoodRun, looseModes, percentile, produceWhile, readAll, runAttack } from "./hostile-attack.js";

let server: LanceServer | null = null;
const clients: GoodClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.stop();
  server = null;
});

const count = async (s: LanceServer, metric: string, label: string) => {
  const text = await s.metrics.registry.getSingleMetricAsString(metric);
  return [...text.matchAll(new RegExp(`${label.replace(/[{}]/g, "\\$&")}[^\\n]* (\\d+)`, "g"))].reduce((n, m) => n + Number(m[1]), 0);
};
const topicIdOf = (m: { type: string; json?: string }) => {
  if (m.type !== "topicResponse") throw new Error(`expected a topicResponse, got ${JSON.stringify(m)}`);
  return (JSON.parse(m.json!) as { id: number }).id;
};

describe("hostile clients (issue 8)", () => {
  it(
    "10,000 random and mutated frames, slowloris, a connection flood, oversized frames and a never-reading reader: a good client keeps its acks, every acked record is stored, nothing else is",
    { timeout: 120_000 },
    async () => {
      const dataDir = join(mkdtempSync(join(tmpdir(), "lance-hostile-")), "data");
      server = createServer({
        dataDir,
        listen: { host: "127.0.0.1", port: 0 },
        logger: pino({ level: "silent" }) as never,
        maxPayloadSize: 64 * 1024,
        auth: {
          enabled: true,
          tokens: [
            "operator-token",
            { name: "good", token: "good-token" },
            { name: "hostile", token: "hostile-token" },
            { name: "reader", token: "reader-token" },
          ],
          acl: [
            { principal: "token:good", topics: ["good"], allow: ["read", "write", "admin"] },
            { principal: "token:hostile", topics: ["h-*"], allow: ["read", "write", "admin"] },
            { principal: "token:reader", topics: ["r-data"], allow: ["read"] },
          ],
        },
        limits: { maxConnections: 48, maxConnectionsPerAddress: 48, firstFrameTimeoutMs: 400, maxSendBufferBytes: 2 * 1024 * 1024, sendStallTimeoutMs: 1000 },
      });
      await server.start();
      const port = server.address().port;

      const good = await GoodClient.connect(port);
      clients.push(good);
      expect(await good.request({ type: "authenticate", token: Buffer.from("good-token") })).toMatchObject({ ok: true });
      const goodTopic = topicIdOf(await good.request({ type: "createTopic", name: "good" }));
      // The attacker's own topic (it may delete it), and one with 2 MiB for the never-reading
      // reader to ask for again and again (read-only to it; an operator token fills it).
      const setup = await GoodClient.connect(port);
      expect(await setup.request({ type: "authenticate", token: Buffer.from("hostile-token") })).toMatchObject({ ok: true });
      const hTopic = topicIdOf(await setup.request({ type: "createTopic", name: "h-data" }));
      expect(await setup.request({ type: "authenticate", token: Buffer.from("operator-token") })).toMatchObject({ ok: true });
      const rTopic = topicIdOf(await setup.request({ type: "createTopic", name: "r-data" }));
      for (let i = 0; i < 32; i++) {
        expect(await setup.request({ type: "ingest", topicId: rTopic, batchId: 1n, timestampNs: 1n, recordCount: 1, compressed: false, payload: Buffer.alloc(64 * 1024, i) })).toMatchObject({ type: "ack" });
      }
      setup.close();

      // Baseline: the good client alone.
      const baseline: GoodRun = { latencies: [], acked: [], fetches: 0 };
      await produceWhile(good, goodTopic, () => baseline.acked.length >= 300, baseline);

      let attackOver = false;
      const during = produceWhile(good, goodTopic, () => attackOver, { latencies: [], acked: [...baseline.acked], fetches: 0 });
      const report = await runAttack({
        port,
        frames: 10_000,
        workers: 8,
        token: "hostile-token",
        topicIds: [goodTopic, hTopic, rTopic],
        readerTopicId: rTopic,
        readerFetches: 2000,
        readerToken: "reader-token",
        slowloris: 10,
        flood: 60,
        oversizeLength: 64 * 1024 + 1,
        seed: 20261125,
      });
      attackOver = true;
      const attack = await during;

      const p = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
      console.log(
        `hostile suite: ${report.framesSent} frames (${report.oversizedSent} oversized) over ${report.connections} connections in ${report.durationMs} ms, ` +
          `${report.repliesReceived} replies, ${report.closedByServer} closed by the server; slowloris closed ${report.slowlorisClosedByServer}/10; flood ${report.floodOpened} opened, ${report.floodClosedByServer} closed by the server\n` +
          `good client ack latency: baseline p50 ${p(baseline.latencies, 50)} ms p99 ${p(baseline.latencies, 99)} ms (${baseline.latencies.length} acks); ` +
          `under attack p50 ${p(attack.latencies, 50)} ms p99 ${p(attack.latencies, 99)} ms (${attack.latencies.length} acks, ${attack.fetches} fetches)`,
      );

      expect(report.framesSent).toBeGreaterThanOrEqual(10_000);
      expect(attack.latencies.length).toBeGreaterThan(20);
      // A very generous sanity bound only: timing is reported, not asserted.
      expect(percentile(attack.latencies, 99)).toBeLessThan(5_000);
      const s = server;
      expect(report.slowlorisClosedByServer).toBe(10);
      expect(await count(s, "lance_limit_events_total", 'limit="first_frame_timeout"')).toBeGreaterThanOrEqual(10);
      expect(await count(s, "lance_limit_events_total", 'limit="max_connections')).toBeGreaterThan(0);
      expect(await count(s, "lance_limit_events_total", 'limit="send_buffer"')).toBe(1);
      expect(await count(s, "lance_errors_total", 'type="protocol"')).toBeGreaterThan(0);
      expect(await count(s, "lance_auth_failures_total", 'reason="access_denied"')).toBeGreaterThan(0);

      // Every acked record is there, in order, and nothing else is.
      expect(await readAll(good, goodTopic)).toBe(attack.acked.join(""));
      good.close();
      await s.stop();
      server = null;
      for (const name of readdirSync(join(dataDir, "segments"))) {
        if (name.startsWith(".")) continue;
        const v = verifyTopic(join(dataDir, "segments", name));
        expect(v.ok, `${name}: ${JSON.stringify(v).slice(0, 400)}`).toBe(true);
      }
      expect(looseModes(dataDir)).toEqual([]);
    },
  );
});
