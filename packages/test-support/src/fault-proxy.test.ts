import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { FaultProxy } from "./fault-proxy.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const serverSockets = new Set<net.Socket>();

async function echoServer(): Promise<number> {
  const sockets = serverSockets;
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as net.AddressInfo).port;
}

/** A client socket with everything it received and how it ended. */
async function client(port: number): Promise<{ s: net.Socket; received: () => string; ended: Promise<string> }> {
  const s = net.connect(port, "127.0.0.1");
  let data = "";
  s.on("data", (c: Buffer) => (data += c.toString()));
  const ended = new Promise<string>((resolve) => {
    s.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    s.on("close", () => resolve("closed"));
  });
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  cleanups.push(() => void s.destroy());
  return { s, received: () => data, ended };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}

async function startProxy(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe("FaultProxy", () => {
  it("pass forwards both ways", async () => {
    const proxy = await startProxy(await echoServer());
    const c = await client(proxy.port);
    c.s.write("hello");
    await until(() => c.received() === "hello");
    expect(proxy.connections).toBe(1);
  });

  it("blackhole keeps the connection open and discards bytes; pass forwards again", async () => {
    const proxy = await startProxy(await echoServer());
    const c = await client(proxy.port);
    c.s.write("a");
    await until(() => c.received() === "a");
    proxy.setMode("blackhole");
    c.s.write("lost");
    await sleep(100);
    expect(c.received()).toBe("a");
    expect(c.s.destroyed).toBe(false);
    // New connections are accepted too, and equally silent.
    const c2 = await client(proxy.port);
    c2.s.write("x");
    await sleep(50);
    expect(c2.received()).toBe("");
    proxy.setMode("pass");
    c.s.write("b");
    await until(() => c.received() === "ab");
  });

  it("a close behind a blackhole is seen only when the partition heals", async () => {
    const proxy = await startProxy(await echoServer());
    const c = await client(proxy.port);
    c.s.write("a");
    await until(() => c.received() === "a");
    proxy.setMode("blackhole");
    for (const s of serverSockets) s.destroy();
    const early = await Promise.race([c.ended, sleep(100).then(() => "open")]);
    expect(early).toBe("open");
    proxy.setMode("pass");
    expect(await c.ended).toMatch(/ECONNRESET|closed/);
  });

  it("reset destroys current connections and refuses new ones until pass", async () => {
    const proxy = await startProxy(await echoServer());
    const c = await client(proxy.port);
    proxy.setMode("reset");
    expect(await c.ended).toMatch(/ECONNRESET|closed/);
    expect(proxy.connections).toBe(0);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, "127.0.0.1");
      s.on("data", () => resolve("data"));
      s.on("error", (e: Error & { code?: string }) => resolve(e.code ?? "error"));
      s.on("close", () => resolve("closed"));
      s.on("connect", () => s.write("x"));
    });
    expect(refused).toMatch(/ECONNRESET|closed|EPIPE/);
    proxy.setMode("pass");
    const c2 = await client(proxy.port);
    c2.s.write("again");
    await until(() => c2.received() === "again");
  });
});
