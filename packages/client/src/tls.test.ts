import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { FrameDecoder, decodeMessage, encodeMessage } from "@lance/protocol";
import { Connection } from "./connection.js";
import { createServer as createNetServer } from "node:net";
import { makeTestCerts, opensslMissing, type TestCerts } from "@lance/test-support";

let certs: TestCerts;
beforeAll(() => {
  if (!opensslMissing) certs = makeTestCerts();
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** An LWP-over-TLS server answering every Keepalive; mTLS when `requireClientCert`. */
async function tlsKeepaliveServer(requireClientCert = false): Promise<string> {
  const server: TlsServer = createTlsServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey), ca: readFileSync(certs.ca), requestCert: requireClientCert, rejectUnauthorized: requireClientCert },
    (socket) => {
      const decoder = new FrameDecoder();
      socket.on("data", (chunk) => {
        for (const f of decoder.push(chunk)) if (decodeMessage(f).type === "keepalive") socket.write(encodeMessage({ type: "keepalive" }));
      });
      socket.on("error", () => undefined);
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise((r) => server.close(() => r())));
  const a = server.address();
  return `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
}

describe.skipIf(opensslMissing !== null)(`tls option${opensslMissing ? ` (skipped: ${opensslMissing})` : ""}`, () => {
  it("connects over TLS with a CA, and presents a client certificate for mTLS", async () => {
    const conn = await Connection.connect(await tlsKeepaliveServer(), { tls: { ca: readFileSync(certs.ca) } });
    await conn.ping();
    conn.close();
    const mtls = await Connection.connect(await tlsKeepaliveServer(true), { tls: { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } });
    await mtls.ping();
    mtls.close();
  });

  it("says the server certificate is not trusted when the CA is wrong", async () => {
    const address = await tlsKeepaliveServer();
    await expect(Connection.connect(address, { tls: { ca: readFileSync(certs.otherCa) } })).rejects.toMatchObject({
      code: "LNC_CLIENT_TLS",
      retryable: false,
      message: expect.stringMatching(/TLS connection to .* failed: .*not trusted: check --ca/),
    });
  });

  it("suggests the port is plaintext when the server does not speak TLS", async () => {
    // Like a LANCE server without [tls]: the ClientHello is bad LWP magic, answered with an error frame and a close.
    const plain = createNetServer((socket) => {
      socket.once("data", () => socket.end(encodeMessage({ type: "errorResponse", message: "Protocol error: bad magic" })));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise((r) => plain.close(() => r())));
    const port = (plain.address() as { port: number }).port;
    await expect(Connection.connect(`127.0.0.1:${port}`, { tls: { ca: readFileSync(certs.ca) }, connectTimeoutMs: 5_000 })).rejects.toMatchObject({
      message: expect.stringMatching(/is \[tls\] enabled on the server\?|TLS handshake not completed/),
    });
  });
});
