import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type ConnectionOptions as TlsOptions } from "node:tls";
import pino from "pino";
import { encodeMessage } from "@lance/protocol";
import { createServer, TLS_REQUIRED_TEXT, type LanceServer } from "./server.js";
import { RawClient } from "./test-client.js";
import { makeTestCerts, opensslMissing, type TestCerts } from "@lance/test-support";
import type { TlsConfig } from "./tls.js";

const servers: LanceServer[] = [];
const clients: RawClient[] = [];
let certs: TestCerts;

beforeAll(() => {
  if (!opensslMissing) certs = makeTestCerts();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function start(tls: Partial<TlsConfig> | undefined): Promise<LanceServer> {
  const s = createServer({ dataDir: mkdtempSync(join(tmpdir(), "lance-tls-")), listen: { host: "127.0.0.1", port: 0 }, logger: pino({ level: "silent" }) as never, ...(tls ? { tls } : {}) });
  await s.start();
  servers.push(s);
  return s;
}

const serverTls = (extra: Partial<TlsConfig> = {}): Partial<TlsConfig> => ({ enabled: true, certPath: certs.serverCert, keyPath: certs.serverKey, ...extra });
const trust = (ca = certs.ca): TlsOptions => ({ ca: readFileSync(ca) });
const asClient = (cert = certs.clientCert, key = certs.clientKey): TlsOptions => ({ ...trust(), cert: readFileSync(cert), key: readFileSync(key) });

async function tlsClient(port: number, options: TlsOptions): Promise<RawClient> {
  const c = await RawClient.connectTls(port, options);
  clients.push(c);
  return c;
}

/**
 * Connects with TLS and sends a Keepalive: "ok" when it is answered, else the error or
 * "closed". With TLS 1.3 a refused client certificate shows after the client's handshake.
 */
function keepaliveOutcome(port: number, options: TlsOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: "127.0.0.1", ...options }, () => s.write(encodeMessage({ type: "keepalive" })));
    const done = (r: string) => {
      s.destroy();
      resolve(r);
    };
    s.on("data", () => done("ok"));
    s.on("error", (err: Error & { code?: string }) => done(err.code ?? err.message));
    s.on("close", () => done("closed"));
  });
}

describe.skipIf(opensslMissing !== null)(`TLS on the client port${opensslMissing ? ` (skipped: ${opensslMissing})` : ""}`, () => {
  it("serves LWP over TLS", async () => {
    const s = await start(serverTls());
    const c = await tlsClient(s.address().port, trust());
    expect(await c.request({ type: "createTopic", name: "secure" })).toMatchObject({ type: "topicResponse" });
    expect(await c.request({ type: "listTopics" })).toMatchObject({ type: "topicResponse" });
  });

  it("refuses a server certificate from another CA on the client side", async () => {
    const s = await start(serverTls());
    expect(await keepaliveOutcome(s.address().port, trust(certs.otherCa))).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  });

  it("mTLS: a certificate from the configured CA is required; none, or one from another CA, is refused", async () => {
    const s = await start(serverTls({ caPath: certs.ca, requireClientCert: true }));
    const port = s.address().port;
    expect(await keepaliveOutcome(port, asClient())).toBe("ok");
    expect(await keepaliveOutcome(port, trust())).not.toBe("ok");
    expect(await keepaliveOutcome(port, asClient(certs.otherClientCert, certs.otherClientKey))).not.toBe("ok");
    expect(await s.metrics.registry.getSingleMetricAsString("lance_errors_total")).toMatch(/type="tls_(handshake|client_cert)"} [1-9]/);
  });

  it("a plaintext client on the TLS port gets an ErrorResponse saying TLS is required, then the connection closes", async () => {
    const s = await start(serverTls());
    const c = await RawClient.connect(s.address().port);
    clients.push(c);
    expect(await c.request({ type: "listTopics" })).toEqual({ type: "errorResponse", message: TLS_REQUIRED_TEXT });
    await new Promise((r) => c.socket.once("close", r));
  });

  it("a TLS client on the plaintext port fails fast instead of hanging", async () => {
    const s = await start(undefined);
    const t0 = Date.now();
    expect(await keepaliveOutcome(s.address().port, trust())).not.toBe("ok");
    expect(Date.now() - t0).toBeLessThan(3000);
    const plain = await RawClient.connect(s.address().port);
    clients.push(plain);
    expect(await plain.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
  });

  it("reload() swaps the certificate for new connections and keeps open ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lance-tls-rot-"));
    copyFileSync(certs.serverCert, join(dir, "cert.pem"));
    copyFileSync(certs.serverKey, join(dir, "key.pem"));
    const s = await start({ enabled: true, certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") });
    const port = s.address().port;
    const before = await tlsClient(port, trust());
    copyFileSync(certs.otherServerCert, join(dir, "cert.pem"));
    copyFileSync(certs.otherServerKey, join(dir, "key.pem"));
    expect(await s.reload()).toEqual({ tokens: 0, tls: true });
    expect(await before.request({ type: "keepalive" })).toEqual({ type: "keepalive" });
    expect(await keepaliveOutcome(port, trust(certs.otherCa))).toBe("ok");
    expect(await keepaliveOutcome(port, trust(certs.ca))).not.toBe("ok");

    // Broken material on reload: an error, and the current certificate stays.
    copyFileSync(certs.ca, join(dir, "key.pem"));
    await expect(s.reload()).rejects.toMatchObject({ code: "LNC_TLS_MATERIAL" });
    expect(await keepaliveOutcome(port, trust(certs.otherCa))).toBe("ok");
  });

  it("refuses to start with incomplete or unreadable TLS settings", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lance-tls-"));
    const code = (tls: Partial<TlsConfig>) => {
      try {
        createServer({ dataDir, tls, logger: pino({ level: "silent" }) as never });
        return null;
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    expect(code({ enabled: true, certPath: certs.serverCert })).toBe("LNC_TLS_CONFIG");
    expect(code({ enabled: true, certPath: certs.serverCert, keyPath: certs.serverKey, requireClientCert: true })).toBe("LNC_TLS_CONFIG");
    expect(code({ enabled: true, certPath: join(dataDir, "nope.pem"), keyPath: certs.serverKey })).toBe("LNC_TLS_MATERIAL");
    expect(code({ enabled: true, certPath: certs.serverCert, keyPath: certs.ca })).toBe("LNC_TLS_MATERIAL");
  });
});
