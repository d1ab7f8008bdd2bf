import { afterEach, describe, expect, it } from "vitest";
import { Connection } from "./connection.js";
import { LanceClient } from "./client.js";
import { startMockServer, type MockHandler, type MockServer } from "./test-mock-server.js";

const servers: MockServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A server that wants `secret`: Authenticate first, then anything is answered. */
async function authServer(): Promise<MockServer> {
  const authed = new WeakSet<object>();
  const handler: MockHandler = (m, ctx) => {
    if (m.type === "authenticate") {
      const ok = Buffer.from(m.token).toString() === "secret";
      if (ok) authed.add(ctx.socket);
      return { type: "authenticateResponse", ok, message: ok ? "Authenticated" : "Invalid token" };
    }
    if (!authed.has(ctx.socket)) return { type: "errorResponse", message: "Authentication required" };
    return { type: "keepalive" };
  };
  const s = await startMockServer(handler);
  servers.push(s);
  return s;
}

describe("token option", () => {
  it("sends Authenticate right after connecting", async () => {
    const s = await authServer();
    const conn = await Connection.connect(s.address, { token: "secret" });
    await conn.ping();
    expect(s.received.map((r) => r.message.type)).toEqual(["authenticate", "keepalive"]);
    conn.close();
  });

  it("a refused token fails the connect with LNC_CLIENT_AUTH_REQUIRED, not retried by LanceClient", async () => {
    const s = await authServer();
    await expect(Connection.connect(s.address, { token: "wrong" })).rejects.toMatchObject({ code: "LNC_CLIENT_AUTH_REQUIRED", message: expect.stringContaining("refused the token: Invalid token") });
    const client = new LanceClient({ server: s.address, token: "wrong", retry: { maxAttempts: 5, baseDelayMs: 1 } });
    await expect(client.call((c) => c.ping())).rejects.toMatchObject({ code: "LNC_CLIENT_AUTH_REQUIRED", retryable: false });
    expect(s.received.filter((r) => r.message.type === "authenticate")).toHaveLength(2);
    client.close();
  });

  it("without a token a guarded server's refusal surfaces as LNC_CLIENT_AUTH_REQUIRED", async () => {
    const s = await authServer();
    const conn = await Connection.connect(s.address);
    await expect(conn.topicCommand({ type: "listTopics" })).rejects.toMatchObject({ code: "LNC_CLIENT_AUTH_REQUIRED" });
    conn.close();
  });
});
