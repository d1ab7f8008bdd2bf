import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { ClientMessage } from "@lance/protocol";
import { createServer, type LanceServer } from "./server.js";
import { RawClient, capturingLogger } from "./test-client.js";
import type { ServerConfigInput } from "./config.js";
import { isSecurityError } from "./errors.js";

const servers: LanceServer[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});


async function start(auth: ServerConfigInput["auth"], logger: never = pino({ level: "silent" }) as never) {
  const s = createServer({ dataDir: mkdtempSync(join(tmpdir(), "lance-auth-")), listen: { host: "127.0.0.1", port: 0 }, logger, auth });
  await s.start();
  servers.push(s);
  return s;
}

async function client(s: LanceServer): Promise<RawClient> {
  const c = await RawClient.connect(s.address().port);
  clients.push(c);
  return c;
}

const authenticate = (token: string): ClientMessage => ({ type: "authenticate", token: Buffer.from(token) });
const REQUIRED = { type: "errorResponse", message: "Authentication required" };

describe("token auth ([auth] enabled)", () => {
  it("refuses every command but Authenticate and Keepalive until a valid token; a wrong token stays refused", async () => {
    const { logger, lines } = capturingLogger();
    const s = await start({ enabled: true, tokens: ["s3cret-token"] }, logger);
    const c = await client(s);
    expect(await c.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
    expect(await c.request({ type: "listTopics" })).toEqual(REQUIRED);
    expect(await c.request({ type: "fetch", topicId: 1, startOffset: 0n, maxBytes: 10 })).toEqual(REQUIRED);
    expect(await c.request({ type: "createTopic", name: "t" })).toEqual(REQUIRED);
    expect(await c.request({ type: "getClusterStatus" })).toEqual(REQUIRED);
    expect(await c.request({ type: "authenticate", token: new Uint8Array(0) })).toEqual({ type: "authenticateResponse", ok: false, message: "No token provided" });
    expect(await c.request(authenticate("s3cret-tokeX"))).toEqual({ type: "authenticateResponse", ok: false, message: "Invalid token" });
    expect(await c.request({ type: "listTopics" })).toEqual(REQUIRED);

    // Pipelined: the Authenticate is in effect for the frame right after it.
    c.send(authenticate("s3cret-token"));
    c.send({ type: "createTopic", name: "orders" });
    expect(await c.next()).toEqual({ type: "authenticateResponse", ok: true, message: "Authenticated" });
    expect(await c.next()).toMatchObject({ type: "topicResponse" });
    expect(await c.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });

    // Authentication is per connection.
    const other = await client(s);
    expect(await other.request({ type: "listTopics" })).toEqual(REQUIRED);

    const log = lines.join("");
    expect(log).toContain("request refused: connection not authenticated");
    expect(log).toMatch(/"peer":"127\.0\.0\.1:\d+"/);
    expect(log).not.toContain("s3cret");
    expect(await s.metrics.registry.getSingleMetricAsString("lance_auth_failures_total")).toMatch(/reason="unauthenticated"} [1-9]/);
  });

  it("write_only = true: reads are open, only writes need a token", async () => {
    const s = await start({ enabled: true, tokens: ["writer"], writeOnly: true });
    const c = await client(s);
    expect(await c.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
    expect(await c.request({ type: "getClusterStatus" })).toMatchObject({ type: "clusterStatusResponse" });
    expect(await c.request({ type: "fetch", topicId: 1, startOffset: 0n, maxBytes: 10 })).toEqual({ type: "errorResponse", message: "Topic 1 not found" });
    const writes: ClientMessage[] = [
      { type: "createTopic", name: "t" },
      { type: "createTopicWithRetention", name: "t", maxAgeSecs: 0n, maxBytes: 0n },
      { type: "deleteTopic", topicId: 1 },
      { type: "setRetention", topicId: 1, maxAgeSecs: 0n, maxBytes: 0n },
      { type: "ingest", batchId: 1n, timestampNs: 0n, recordCount: 1, topicId: 1, payload: Buffer.from("x") },
      { type: "commitOffset", topicId: 1, consumerId: 1n, offset: 0n },
    ];
    for (const w of writes) expect(await c.request(w)).toEqual(REQUIRED);
    expect(await c.request(authenticate("writer"))).toMatchObject({ ok: true });
    expect(await c.request({ type: "createTopic", name: "t" })).toMatchObject({ type: "topicResponse" });
  });

  it("re-reads token_file on reload: new tokens work, removed ones stop working on open connections", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lance-tokens-"));
    const file = join(dir, "tokens");
    writeFileSync(file, "# operators\nold-token\n\n");
    const s = await start({ enabled: true, tokenFile: file });
    const c = await client(s);
    expect(await c.request(authenticate("old-token"))).toMatchObject({ ok: true });
    expect(await c.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });

    writeFileSync(file, "new-token   \n# old-token revoked\n");
    expect(await s.reload()).toEqual({ tokens: 1, tls: false });
    expect(await c.request({ type: "listTopics" })).toEqual(REQUIRED);
    const d = await client(s);
    expect(await d.request(authenticate("old-token"))).toMatchObject({ ok: false, message: "Invalid token" });
    expect(await d.request(authenticate("new-token"))).toMatchObject({ ok: true });

    // A reload that would leave no token fails and keeps the tokens in force.
    writeFileSync(file, "# nothing\n");
    await expect(s.reload()).rejects.toMatchObject({ code: "LNC_AUTH_NO_TOKENS" });
    expect(await d.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
  });

  it("refuses to start with auth enabled and no token, or an unreadable token_file", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-auth-"));
    const attempt = (auth: ServerConfigInput["auth"]) => {
      try {
        createServer({ dataDir, auth, logger: pino({ level: "silent" }) as never });
        return null;
      } catch (err) {
        return isSecurityError(err) ? err.code : err;
      }
    };
    expect(attempt({ enabled: true })).toBe("LNC_AUTH_NO_TOKENS");
    expect(attempt({ enabled: true, tokens: [""] })).toBe("LNC_AUTH_NO_TOKENS");
    expect(attempt({ enabled: true, tokenFile: join(dataDir, "missing") })).toBe("LNC_AUTH_TOKEN_FILE");
  });

  it("with auth disabled nothing is checked and any non-empty UTF-8 token is accepted (as upstream)", async () => {
    const s = await start(undefined);
    const c = await client(s);
    expect(await c.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
    expect(await c.request(authenticate("anything"))).toEqual({ type: "authenticateResponse", ok: true, message: "Authenticated" });
    expect(await c.request({ type: "authenticate", token: Uint8Array.of(0xff, 0xfe) })).toMatchObject({ ok: false, message: "Invalid token encoding" });
  });
});
