import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { MAX_TOPIC_NAME_LENGTH } from "@lance/segment-format";
import { createServer, type LanceServer } from "./server.js";
import { RawClient } from "./test-client.js";

let server: LanceServer | null = null;
let client: RawClient | null = null;
afterEach(async () => {
  client?.close();
  await server?.stop();
  server = null;
});

describe("topic names from the network", () => {
  it("refuses traversal, separators, control and non-ASCII characters and over-long names; nothing is created outside segments/", async () => {
    const parent = mkdtempSync(join(tmpdir(), "lance-names-"));
    const dataDir = join(parent, "data");
    server = createServer({ dataDir, listen: { host: "127.0.0.1", port: 0 }, logger: pino({ level: "silent" }) as never });
    await server.start();
    client = await RawClient.connect(server.address().port);
    const hostile = ["..", "../x", "..\\x", "a/b", "/abs", "a\\b", "a\0b", "a b", "%2e%2e", "C:", "ü", "a.b", "x".repeat(MAX_TOPIC_NAME_LENGTH + 1), "007"];
    for (const name of hostile) {
      for (const msg of [{ type: "createTopic" as const, name }, { type: "createTopicWithRetention" as const, name, maxAgeSecs: 0n, maxBytes: 0n }]) {
        const r = await client.request(msg);
        expect(r.type, JSON.stringify(name)).toBe("errorResponse");
      }
    }
    expect(await client.request({ type: "createTopic", name: "x".repeat(MAX_TOPIC_NAME_LENGTH) })).toMatchObject({ type: "topicResponse" });
    expect(readdirSync(parent)).toEqual(["data"]);
    expect(readdirSync(join(dataDir, "segments"))).toEqual(["x".repeat(MAX_TOPIC_NAME_LENGTH)]);
  });
});
