import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createServer, type LanceServer, type Logger } from "@lance/server";
import { LNC, lncAsync as lnc, type Run } from "./test-lnc.js";
import { makeTestCerts, opensslMissing } from "@lance/test-support";

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent };

let server: LanceServer;
let S = "";

beforeAll(async () => {
  server = createServer({
    dataDir: mkdtempSync(join(tmpdir(), "lnc-auth-")),
    listen: { host: "127.0.0.1", port: 0 },
    logger: silent,
    auth: { enabled: true, tokens: ["lnc-test-token"] },
  });
  await server.start();
  S = `127.0.0.1:${server.address().port}`;
});

afterAll(async () => {
  await server.stop();
});

/** lnc with LANCE_TOKEN in its environment. */
function lncWithEnvToken(args: string[], token: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LNC, ...args], { env: { ...process.env, LANCE_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

describe("lnc --token against a server with [auth] enabled", () => {
  it("without a token: Authentication required, exit non-zero", async () => {
    const r = await lnc(["create-topic", "--server", S, "--name", "secured"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Authentication required/);
  });

  it("a wrong token is refused clearly; the right one (flag or LANCE_TOKEN) works for produce and consume", async () => {
    const wrong = await lnc(["list-topics", "--server", S, "--token", "nope"]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toMatch(/refused the token: Invalid token/);
    expect((await lnc(["create-topic", "--server", S, "--name", "secured", "--token", "lnc-test-token"])).code).toBe(0);
    expect((await lncWithEnvToken(["produce", "--server", S, "--topic", "secured", "--data", "hello"], "lnc-test-token")).code).toBe(0);
    const consumed = await lncWithEnvToken(["consume", "--server", S, "--topic", "secured", "--max-records", "1"], "lnc-test-token");
    expect(consumed.code).toBe(0);
    expect(consumed.out.trim()).toBe("hello");
  });
});

describe.skipIf(opensslMissing !== null)(`lnc --tls --ca --cert --key${opensslMissing ? ` (skipped: ${opensslMissing})` : ""}`, () => {
  it("talks to an mTLS server with the flags; without --tls it is told TLS is required", async () => {
    const certs = makeTestCerts();
    const tlsServer = createServer({
      dataDir: mkdtempSync(join(tmpdir(), "lnc-tls-")),
      listen: { host: "127.0.0.1", port: 0 },
      logger: silent,
      tls: { enabled: true, certPath: certs.serverCert, keyPath: certs.serverKey, caPath: certs.ca, requireClientCert: true },
    });
    await tlsServer.start();
    try {
      const T = `127.0.0.1:${tlsServer.address().port}`;
      const flags = ["--tls", "--ca", certs.ca, "--cert", certs.clientCert, "--key", certs.clientKey];
      const created = await lnc(["create-topic", "--server", T, "--name", "tls-topic", ...flags]);
      expect(created.code).toBe(0);
      const listed = await lnc(["list-topics", "--server", T, "--json", ...flags]);
      expect(listed.code).toBe(0);
      expect((JSON.parse(listed.out) as Array<{ name: string }>).map((t) => t.name)).toEqual(["tls-topic"]);
      const plain = await lnc(["list-topics", "--server", T]);
      expect(plain.code).not.toBe(0);
      expect(plain.err).toMatch(/TLS required.*--tls/);
      const noCert = await lnc(["list-topics", "--server", T, "--ca", certs.ca]);
      expect(noCert.code).not.toBe(0);
      expect(noCert.err).toMatch(/refused the client certificate: check --cert\/--key/);
      const wrongCa = await lnc(["list-topics", "--server", T, "--ca", certs.otherCa, "--cert", certs.clientCert, "--key", certs.clientKey]);
      expect(wrongCa.err).toMatch(/server certificate is not trusted: check --ca/);
      const halfFlags = await lnc(["list-topics", "--server", T, "--cert", certs.clientCert]);
      expect(halfFlags.err).toMatch(/--cert and --key go together/);
    } finally {
      await tlsServer.stop();
    }
  });
});
