import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { ClientMessage, LwpMessage } from "@lance/protocol";
import { makeTestCerts, opensslMissing } from "@lance/test-support";
import { createServer, type LanceServer } from "./server.js";
import { RawClient, capturingLogger } from "./test-client.js";
import type { ServerConfigInput } from "./config.js";
import { isSecurityError } from "./errors.js";
import { AccessControl, type AclRule } from "./access.js";
import type { AuthConfig } from "./auth.js";

const servers: LanceServer[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});


async function start(input: Omit<ServerConfigInput, "dataDir">, logger: never = pino({ level: "silent" }) as never) {
  const s = createServer({ dataDir: mkdtempSync(join(tmpdir(), "lance-acl-")), listen: { host: "127.0.0.1", port: 0 }, logger, ...input });
  await s.start();
  servers.push(s);
  return s;
}

async function client(s: LanceServer, token?: string): Promise<RawClient> {
  const c = await RawClient.connect(s.address().port);
  clients.push(c);
  if (token !== undefined) expect(await c.request(authenticate(token))).toMatchObject({ ok: true });
  return c;
}

const authenticate = (token: string): ClientMessage => ({ type: "authenticate", token: Buffer.from(token) });
const denied = (perm: string, topic: string) => ({ type: "errorResponse", message: expect.stringMatching(new RegExp(`^Access denied: ${perm} permission on topic "${topic}"`)) });
const topicId = (m: LwpMessage): number => {
  if (m.type !== "topicResponse") throw new Error(`expected a topicResponse, got ${JSON.stringify(m)}`);
  return (JSON.parse(m.json) as { id: number }).id;
};
const names = (m: LwpMessage): string[] => {
  if (m.type !== "topicResponse") throw new Error(`expected a topicResponse, got ${JSON.stringify(m)}`);
  return (JSON.parse(m.json) as { topics: Array<{ name: string }> }).topics.map((t) => t.name).sort();
};
const ingest = (topic: number, text: string): ClientMessage => ({ type: "ingest", topicId: topic, batchId: 7n, timestampNs: 1n, recordCount: 1, compressed: false, payload: Buffer.from(text) });
const fetch = (topic: number): ClientMessage => ({ type: "fetch", topicId: topic, startOffset: 0n, maxBytes: 1 << 20 });

const ACL: AclRule[] = [
  { principal: "token:ingest-svc", topics: ["orders", "logs-*"], allow: ["write"] },
  { principal: "token:reader", topics: ["orders"], allow: ["read"] },
  { principal: "token:ops", topics: ["*"], allow: ["admin"] },
  { principal: "*", topics: ["public"], allow: ["read"] },
];
const AUTH: Partial<AuthConfig> = {
  enabled: true,
  tokens: ["root-token", { name: "ingest-svc", token: "ingest-secret" }, { name: "reader", token: "reader-secret" }, { name: "ops", token: "ops-secret" }],
  acl: ACL,
};

describe("per-topic access ([[auth.acl]])", () => {
  it("enforces read / write / admin per named token on produce, fetch, create, delete, retention, list; unnamed tokens keep full access", async () => {
    const { logger, lines } = capturingLogger();
    const s = await start({ auth: AUTH }, logger);
    const root = await client(s, "root-token");
    const orders = topicId(await root.request({ type: "createTopic", name: "orders" }));
    const secret = topicId(await root.request({ type: "createTopic", name: "secret" }));
    const pub = topicId(await root.request({ type: "createTopic", name: "public" }));
    expect(names(await root.request({ type: "listTopics" }))).toEqual(["orders", "public", "secret"]);

    const ingestSvc = await client(s, "ingest-secret");
    expect(await ingestSvc.request(ingest(orders, "o1"))).toEqual({ type: "ack", batchId: 7n });
    expect(await ingestSvc.request(ingest(secret, "s1"))).toEqual(denied("write", "secret"));
    expect(await ingestSvc.request(fetch(orders))).toEqual(denied("read", "orders"));
    expect(await ingestSvc.request({ type: "createTopic", name: "logs-app" })).toEqual(denied("admin", "logs-app"));
    expect(await ingestSvc.request({ type: "deleteTopic", topicId: orders })).toEqual(denied("admin", "orders"));
    expect(names(await ingestSvc.request({ type: "listTopics" }))).toEqual(["public"]);

    const reader = await client(s, "reader-secret");
    expect(await reader.request(fetch(orders))).toMatchObject({ type: "fetchResponse", data: Buffer.from("o1") });
    expect(await reader.request(fetch(secret))).toEqual(denied("read", "secret"));
    expect(await reader.request({ type: "getTopic", topicId: secret })).toEqual(denied("read", "secret"));
    expect(await reader.request({ type: "subscribe", topicId: secret, consumerId: 1n, startOffset: 0n, maxBatchBytes: 100 } as ClientMessage)).toEqual(denied("read", "secret"));
    expect(await reader.request({ type: "commitOffset", topicId: secret, consumerId: 1n, offset: 0n } as ClientMessage)).toEqual(denied("read", "secret"));
    expect(await reader.request({ type: "offsetForTime", topicId: secret, timestampNs: 0n } as ClientMessage)).toEqual(denied("read", "secret"));
    expect(await reader.request(ingest(orders, "r1"))).toEqual(denied("write", "orders"));
    expect(await reader.request(fetch(pub))).toMatchObject({ type: "fetchResponse" });
    expect(names(await reader.request({ type: "listTopics" }))).toEqual(["orders", "public"]);
    // A topic id that does not exist is answered as before (nothing to name).
    expect(await reader.request(fetch(999))).toEqual({ type: "errorResponse", message: "Topic 999 not found" });

    const ops = await client(s, "ops-secret");
    expect(await ops.request({ type: "createTopic", name: "logs-app" })).toMatchObject({ type: "topicResponse" });
    expect(await ops.request({ type: "setRetention", topicId: secret, maxAgeSecs: 10n, maxBytes: 0n } as ClientMessage)).toMatchObject({ type: "topicResponse" });
    expect(await ops.request(ingest(secret, "x"))).toEqual(denied("write", "secret"));
    expect(await ops.request({ type: "deleteTopic", topicId: secret })).toMatchObject({ type: "topicResponse" });
    expect(await ingestSvc.request(ingest(orders, "o2"))).toEqual({ type: "ack", batchId: 7n });

    // Nothing the denied requests carried was stored.
    expect(await root.request(fetch(orders))).toMatchObject({ data: Buffer.from("o1o2") });

    const log = lines.join("");
    expect(log).toContain("request refused: access denied");
    expect(log).toContain('"principal":"token:ingest-svc"');
    expect(log).toMatch(/"peer":"127\.0\.0\.1:\d+"/);
    for (const secretText of ["ingest-secret", "reader-secret", "ops-secret", "root-token"]) expect(log).not.toContain(secretText);
    const metrics = await s.metrics.registry.metrics();
    expect(metrics).toMatch(/lance_auth_failures_total\{reason="access_denied"\} 1[0-9]/);
  });

  it("without [[auth.acl]] every authenticated token may do everything (named or not)", async () => {
    const s = await start({ auth: { enabled: true, tokens: [{ name: "svc", token: "svc-secret" }] } });
    const c = await client(s, "svc-secret");
    const t = topicId(await c.request({ type: "createTopic", name: "any" }));
    expect(await c.request(ingest(t, "a"))).toEqual({ type: "ack", batchId: 7n });
    expect(await c.request(fetch(t))).toMatchObject({ data: Buffer.from("a") });
  });

  it("write_only with an ACL: anonymous connections read only what '*' rules allow", async () => {
    const s = await start({ auth: { ...AUTH, writeOnly: true } });
    const root = await client(s, "root-token");
    const pub = topicId(await root.request({ type: "createTopic", name: "public" }));
    const orders = topicId(await root.request({ type: "createTopic", name: "orders" }));
    const anon = await client(s);
    expect(await anon.request(fetch(pub))).toMatchObject({ type: "fetchResponse" });
    expect(await anon.request(fetch(orders))).toEqual({ type: "errorResponse", message: expect.stringContaining("(principal anonymous)") });
    expect(names(await anon.request({ type: "listTopics" }))).toEqual(["public"]);
  });

  it("token_file names tokens (`name = token`); SIGHUP reload re-reads tokens and the ACL (reread hook)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lance-acl-file-"));
    const tokenFile = join(dir, "tokens");
    writeFileSync(tokenFile, "# tokens\nroot-token\nreader = reader-secret\n");
    let acl: AclRule[] = [{ principal: "token:reader", topics: ["orders"], allow: ["read"] }];
    const s = await start({ auth: { enabled: true, tokenFile, acl, reread: () => ({ acl }) } });
    const root = await client(s, "root-token");
    const orders = topicId(await root.request({ type: "createTopic", name: "orders" }));
    const other = topicId(await root.request({ type: "createTopic", name: "other" }));
    const reader = await client(s, "reader-secret");
    expect(await reader.request(fetch(orders))).toMatchObject({ type: "fetchResponse" });
    expect(await reader.request(fetch(other))).toEqual(denied("read", "other"));

    acl = [{ principal: "token:reader", topics: ["other"], allow: ["read"] }];
    expect(await s.reload()).toEqual({ tokens: 2, tls: false });
    // The open connection is checked against the new rules from its next command.
    expect(await reader.request(fetch(other))).toMatchObject({ type: "fetchResponse" });
    expect(await reader.request(fetch(orders))).toEqual(denied("read", "orders"));

    // A bad reload keeps the previous rules.
    acl = [{ principal: "bogus", topics: ["x"], allow: ["read"] }];
    await expect(s.reload()).rejects.toSatisfy((e: unknown) => isSecurityError(e, "LNC_AUTH_CONFIG"));
    expect(await reader.request(fetch(other))).toMatchObject({ type: "fetchResponse" });

    // The token renamed in the file: the old name's rules no longer apply.
    acl = [{ principal: "token:reader", topics: ["other"], allow: ["read"] }];
    writeFileSync(tokenFile, "root-token\nrenamed = reader-secret\n");
    await s.reload();
    expect(await reader.request(fetch(other))).toEqual({ type: "errorResponse", message: expect.stringContaining("(principal token:renamed)") });
  });

  it.skipIf(opensslMissing)("client certificate CN as principal (mTLS), with token auth off", async () => {
    const certs = makeTestCerts();
    const s = await start({
      tls: { enabled: true, certPath: certs.serverCert, keyPath: certs.serverKey, caPath: certs.ca, requireClientCert: true },
      auth: { acl: [{ principal: "cn:lance-client", topics: ["orders"], allow: ["read", "write", "admin"] }] },
    });
    const c = await RawClient.connectTls(s.address().port, { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey), servername: "localhost" });
    clients.push(c);
    const orders = topicId(await c.request({ type: "createTopic", name: "orders" }));
    expect(await c.request(ingest(orders, "m"))).toEqual({ type: "ack", batchId: 7n });
    expect(await c.request({ type: "createTopic", name: "other" })).toEqual({ type: "errorResponse", message: expect.stringContaining("(principal cn:lance-client)") });
  });

  it("refuses bad rules and ambiguous token names at start", () => {
    const attempt = (auth: Partial<AuthConfig>) => {
      try {
        createServer({ dataDir: mkdtempSync(join(tmpdir(), "lance-acl-bad-")), logger: pino({ level: "silent" }) as never, auth });
        return "started";
      } catch (err) {
        return isSecurityError(err) ? err.code : String(err);
      }
    };
    const rule = (r: Partial<AclRule>) => ({ acl: [{ principal: "*", topics: ["a"], allow: ["read"], ...r } as AclRule] });
    expect(attempt(rule({ principal: "alice" }))).toBe("LNC_AUTH_CONFIG");
    expect(attempt(rule({ topics: ["../x"] }))).toBe("LNC_AUTH_CONFIG");
    expect(attempt(rule({ allow: ["delete" as never] }))).toBe("LNC_AUTH_CONFIG");
    expect(attempt(rule({ topics: [] }))).toBe("LNC_AUTH_CONFIG");
    expect(attempt({ enabled: true, tokens: [{ name: "a", token: "x" }, { name: "b", token: "x" }] })).toBe("LNC_AUTH_CONFIG");
    expect(attempt({ enabled: true, tokens: ["x", { name: "b", token: "x" }] })).toBe("LNC_AUTH_CONFIG");
    expect(attempt({ enabled: true, tokens: [{ name: "bad name", token: "x" }] })).toBe("LNC_AUTH_CONFIG");
  });

  it("patterns: * matches any characters, names match exactly", () => {
    const acl = new AccessControl([{ principal: "token:a", topics: ["logs-*", "orders"], allow: ["read"] }]);
    const a = { ids: ["token:a"], unrestricted: false, label: "token:a" };
    expect(acl.allows(a, "read", "logs-x")).toBe(true);
    expect(acl.allows(a, "read", "logs-")).toBe(true);
    expect(acl.allows(a, "read", "logsx")).toBe(false);
    expect(acl.allows(a, "read", "orders")).toBe(true);
    expect(acl.allows(a, "read", "orders2")).toBe(false);
    expect(acl.allows(a, "write", "orders")).toBe(false);
    expect(acl.allows({ ids: ["token:b"], unrestricted: false, label: "" }, "read", "orders")).toBe(false);
    expect(acl.allows({ ids: [], unrestricted: true, label: "" }, "admin", "anything")).toBe(true);
  });
});
