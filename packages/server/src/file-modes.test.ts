import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createServer } from "./server.js";
import { RawClient } from "./test-client.js";
import { looseModes } from "./hostile-attack.js";

describe("file modes", () => {
  // With umask 0 the modes the code asks for are the modes the files get: 0o666 defaults would show.
  let umask: number | null = null;
  beforeAll(() => {
    try {
      umask = process.umask(0);
    } catch {
      umask = null; // worker threads cannot change it; the check still runs under the ambient umask
    }
  });
  afterAll(() => {
    if (umask !== null) process.umask(umask);
  });

  it("the data dir, WAL, topics, segments, indexes, metadata, consumer offsets and quarantine are 0750 / 0640 or stricter", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "lance-modes-")), "data");
    const s = createServer({ dataDir, listen: { host: "127.0.0.1", port: 0 }, logger: pino({ level: "silent" }) as never, segmentMaxBytes: 4096, indexIntervalBytes: 256, checkpointIntervalMs: 50 });
    await s.start();
    const c = await RawClient.connect(s.address().port);
    const created = await c.request({ type: "createTopic", name: "modes" });
    const topicId = (JSON.parse((created as { json: string }).json) as { id: number }).id;
    for (let i = 0; i < 40; i++) expect(await c.request({ type: "ingest", topicId, batchId: BigInt(i), timestampNs: 1n, recordCount: 1, compressed: false, payload: Buffer.alloc(300, i) })).toMatchObject({ type: "ack" });
    expect(await c.request({ type: "commitOffset", topicId, consumerId: 1n, offset: 5n })).toMatchObject({ type: "commitAck" });
    expect(await c.request({ type: "createTopicWithRetention", name: "other", maxAgeSecs: 60n, maxBytes: 0n })).toMatchObject({ type: "topicResponse" });
    await new Promise((r) => setTimeout(r, 150)); // a checkpoint or two
    c.close();
    await s.stop();
    const names = readdirSync(join(dataDir, "segments", "modes"));
    expect(names.filter((n) => n.endsWith(".lnc")).length).toBeGreaterThan(1);
    expect(looseModes(dataDir)).toEqual([]);
  });
});
