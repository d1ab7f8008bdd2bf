import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import pino from "pino";
import { encodeMessage, parseTopicResponse } from "@lance/protocol";
import { verifyTopic } from "@lance/index";
import { createServer, type LanceServer } from "./server.js";
import { RawClient } from "./test-client.js";

let server: LanceServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

/** Sends bytes on a fresh connection and waits until the server closes it or goes quiet. */
function hostile(port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.end(bytes));
    const done = () => {
      s.destroy();
      resolve();
    };
    s.on("data", () => undefined);
    s.on("close", done);
    s.on("error", done);
    setTimeout(done, 500).unref();
  });
}

describe("hostile input", () => {
  it("answers random and mutated frames with an error or a close, keeps serving others, writes nothing partial", { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-fuzz-"));
    server = createServer({ dataDir, listen: { host: "127.0.0.1", port: 0 }, logger: pino({ level: "silent" }) as never, maxPayloadSize: 64 * 1024 });
    await server.start();
    const port = server.address().port;
    const good = await RawClient.connect(port);
    const created = parseTopicResponse(((await good.request({ type: "createTopic", name: "fuzz" })) as { json: string }).json);
    const topicId = created.kind === "topic" ? created.topic.id : 0;
    const valid = encodeMessage({ type: "ingest", batchId: 1n, timestampNs: 0n, recordCount: 1, topicId, payload: Buffer.from("ok;") });
    let acked = 0;
    let sent = 0;

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(valid.byteLength - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
            const b = Buffer.from(valid);
            b[at]! ^= x;
            return b;
          }),
          fc.nat(valid.byteLength - 1).map((cut) => valid.subarray(0, cut)),
          fc.constant(Buffer.concat([valid.subarray(0, 32), Buffer.from([0xff, 0xff, 0xff, 0x7f]), valid.subarray(36)])),
        ),
        async (bytes) => {
          await hostile(port, bytes);
          const r = await good.request({ type: "ingest", batchId: BigInt(++sent), timestampNs: 0n, recordCount: 1, topicId, payload: Buffer.from(`good-${sent};`) });
          expect(r.type).toBe("ack");
          acked++;
        },
      ),
      { numRuns: 300 },
    );
    // Hostile bytes that happened to form a valid ingest to this topic were stored whole; nothing else was.
    let offset = 0n;
    const records: string[] = [];
    for (;;) {
      const f = await good.request({ type: "fetch", topicId, startOffset: offset, maxBytes: 1 << 20 });
      if (f.type !== "fetchResponse") throw new Error(`fetch: ${JSON.stringify(f, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
      if (f.data.byteLength === 0) break;
      records.push(...Buffer.from(f.data).toString("latin1").split(";").filter(Boolean));
      offset = f.nextOffset;
    }
    expect(records.filter((r) => r.startsWith("good-"))).toHaveLength(acked);
    expect(records.every((r) => r.startsWith("good-") || r === "ok")).toBe(true);
    good.close();
    await server.stop();
    server = null;
    expect(verifyTopic(join(dataDir, "segments", "fuzz")).ok).toBe(true);
  });
});
