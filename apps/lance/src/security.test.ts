import { afterEach, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { encodeMessage } from "@lance/protocol";
import { readConfigFile } from "./config-file.js";
import { LANCE, Wire, killAllLance, startLance } from "./test-lance.js";
import { makeTestCerts, opensslMissing } from "@lance/test-support";

afterEach(killAllLance);

const KEEPALIVE_FRAME = encodeMessage({ type: "keepalive" });
const dir = () => mkdtempSync(join(tmpdir(), "lance-sec-"));
const authenticate = (token: string) => ({ type: "authenticate" as const, token: Buffer.from(token) });

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("lance [limits]", () => {
  it("maps [limits] keys", () => {
    const p = join(dir(), "lance.toml");
    writeFileSync(
      p,
      "[limits]\nmax_connections = 500\nmax_connections_per_address = 20\nfirst_frame_timeout_ms = 5000\nidle_timeout_secs = 0\nmax_in_flight_bytes_per_connection = 33554432\nmax_in_flight_requests_per_connection = 256\nmax_send_buffer_bytes = 8388608\nsend_stall_timeout_ms = 5000\n",
    );
    expect(readConfigFile(p)).toEqual({
      layer: {
        maxInFlightPerConnection: 256,
        limits: { maxConnections: 500, maxConnectionsPerAddress: 20, firstFrameTimeoutMs: 5000, idleTimeoutMs: 0, maxInFlightBytesPerConnection: 33554432, maxSendBufferBytes: 8388608, sendStallTimeoutMs: 5000 },
      },
      warnings: [],
    });
  });
});

describe("lance [auth]", () => {
  it("maps [auth] keys; token_file is relative to the config file", () => {
    const d = dir();
    const p = join(d, "lance.toml");
    writeFileSync(p, '[auth]\nenabled = true\ntokens = ["a", "b"]\ntoken_file = "tokens.txt"\nwrite_only = true\n');
    expect(readConfigFile(p).layer.auth).toEqual({ enabled: true, tokens: ["a", "b"], tokenFile: join(d, "tokens.txt"), writeOnly: true, reread: expect.any(Function) });
    writeFileSync(p, "[auth]\nenabled = 1\n");
    expect(() => readConfigFile(p)).toThrow(/auth\.enabled must be true or false/);
  });

  it("refuses to start with auth enabled and no tokens, with a clear message", () => {
    const d = dir();
    const p = join(d, "lance.toml");
    writeFileSync(p, `data_dir = "${join(d, "data")}"\n[auth]\nenabled = true\n`);
    const r = spawnSync(process.execPath, [LANCE, "--config", p, "--listen", "127.0.0.1:0", "--health", "off", "--metrics", "off"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\[auth\] enabled = true needs tokens or a token_file/);
  });

  it("SIGHUP re-reads token_file without dropping connections", async () => {
    const d = dir();
    writeFileSync(join(d, "tokens"), "tok-alpha-7f3\n");
    const p = join(d, "lance.toml");
    writeFileSync(p, `data_dir = "${join(d, "data")}"\n[auth]\nenabled = true\ntoken_file = "tokens"\n`);
    const lance = await startLance(["--config", p]);
    const w = await Wire.open(lance.port);
    expect(await w.request(authenticate("tok-bravo-9k2"))).toMatchObject({ ok: false });
    writeFileSync(join(d, "tokens"), "# rotated\ntok-bravo-9k2\n");
    lance.proc.kill("SIGHUP");
    await waitFor(() => lance.logs.some((l) => l.includes("reload complete")), "the reload log line");
    expect(await w.request(authenticate("tok-bravo-9k2"))).toMatchObject({ ok: true });
    expect(await w.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
    expect(lance.logs.join("\n")).not.toMatch(/tok-alpha|tok-bravo/);
    w.close();
    lance.proc.kill("SIGTERM");
    expect(await lance.exited).toBe(0);
  });
});

describe("lance [[auth.acl]]", () => {
  it("maps [auth.named_tokens] and [[auth.acl]]; bad rules are a config error", () => {
    const d = dir();
    const p = join(d, "lance.toml");
    writeFileSync(p, '[auth]\nenabled = true\ntokens = ["root"]\n[auth.named_tokens]\ningest-svc = "s1"\n[[auth.acl]]\nprincipal = "token:ingest-svc"\ntopics = ["orders", "logs-*"]\nallow = ["write"]\n');
    const auth = readConfigFile(p).layer.auth!;
    expect(auth.tokens).toEqual(["root", { name: "ingest-svc", token: "s1" }]);
    expect(auth.acl).toEqual([{ principal: "token:ingest-svc", topics: ["orders", "logs-*"], allow: ["write"] }]);
    writeFileSync(p, '[auth]\n[[auth.acl]]\nprincipal = "ingest-svc"\ntopics = ["orders"]\nallow = ["write"]\n');
    expect(() => readConfigFile(p)).toThrow(/principal "ingest-svc" must be "token:<name>", "cn:<certificate CN>" or "\*"/);
  });

  it("enforces the rules of lance.toml and re-reads them on SIGHUP", async () => {
    const d = dir();
    const p = join(d, "lance.toml");
    const config = (topics: string) =>
      `data_dir = "${join(d, "data")}"\n[auth]\nenabled = true\ntokens = ["root-tok"]\n[auth.named_tokens]\nsvc = "svc-tok"\n[[auth.acl]]\nprincipal = "token:svc"\ntopics = ${topics}\nallow = ["read", "write"]\n`;
    writeFileSync(p, config('["orders"]'));
    const lance = await startLance(["--config", p]);
    const root = await Wire.open(lance.port);
    expect(await root.request(authenticate("root-tok"))).toMatchObject({ ok: true });
    const id = (m: unknown) => JSON.parse((m as { json: string }).json).id as number;
    const orders = id(await root.request({ type: "createTopic", name: "orders" }));
    const other = id(await root.request({ type: "createTopic", name: "other" }));
    const svc = await Wire.open(lance.port);
    expect(await svc.request(authenticate("svc-tok"))).toMatchObject({ ok: true });
    const fetch = (topicId: number) => ({ type: "fetch" as const, topicId, startOffset: 0n, maxBytes: 1024 });
    expect(await svc.request(fetch(orders))).toMatchObject({ type: "fetchResponse" });
    expect(await svc.request(fetch(other))).toMatchObject({ type: "errorResponse", message: expect.stringMatching(/^Access denied: read permission on topic "other"/) });
    writeFileSync(p, config('["orders", "other"]'));
    lance.proc.kill("SIGHUP");
    await waitFor(() => lance.logs.some((l) => l.includes("reload complete")), "the reload log line");
    expect(await svc.request(fetch(other))).toMatchObject({ type: "fetchResponse" });
    expect(lance.logs.join("\n")).toContain("request refused: access denied");
    expect(lance.logs.join("\n")).not.toMatch(/svc-tok|root-tok/);
    root.close();
    svc.close();
    lance.proc.kill("SIGTERM");
    expect(await lance.exited).toBe(0);
  });
});

/** "ok" when a Keepalive over TLS trusting `ca` is answered, else what went wrong. */
function tlsKeepalive(port: number, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: "127.0.0.1", ca: readFileSync(ca) }, () => s.write(Buffer.from(KEEPALIVE_FRAME)));
    const done = (r: string) => {
      s.destroy();
      resolve(r);
    };
    s.on("data", () => done("ok"));
    s.on("error", (err: Error & { code?: string }) => done(err.code ?? err.message));
    s.on("close", () => done("closed"));
  });
}

describe.skipIf(opensslMissing !== null)(`lance [tls]${opensslMissing ? ` (skipped: ${opensslMissing})` : ""}`, () => {
  it("maps [tls] keys (paths relative to the config file) and reloads the certificate on SIGHUP", async () => {
    const certs = makeTestCerts();
    const d = dir();
    copyFileSync(certs.serverCert, join(d, "server.pem"));
    copyFileSync(certs.serverKey, join(d, "server.key"));
    const p = join(d, "lance.toml");
    writeFileSync(p, `data_dir = "${join(d, "data")}"\n[tls]\nenabled = true\ncert_path = "server.pem"\nkey_path = "server.key"\n`);
    expect(readConfigFile(p).layer.tls).toEqual({ enabled: true, certPath: join(d, "server.pem"), keyPath: join(d, "server.key") });

    const lance = await startLance(["--config", p]);
    expect(await tlsKeepalive(lance.port, certs.ca)).toBe("ok");
    copyFileSync(certs.otherServerCert, join(d, "server.pem"));
    copyFileSync(certs.otherServerKey, join(d, "server.key"));
    lance.proc.kill("SIGHUP");
    await waitFor(() => lance.logs.some((l) => l.includes("reload complete")), "the reload log line");
    expect(await tlsKeepalive(lance.port, certs.otherCa)).toBe("ok");
    expect(await tlsKeepalive(lance.port, certs.ca)).not.toBe("ok");
    lance.proc.kill("SIGTERM");
    expect(await lance.exited).toBe(0);
  });
});
