import net from "node:net";

export type FaultMode = "pass" | "blackhole" | "reset";

/**
 * A TCP proxy in front of a target, for partition tests: "pass" forwards, "blackhole" keeps
 * connections open but discards bytes both ways, "reset" destroys current connections and
 * every new one. Bytes discarded in blackhole are lost for good, so a stream resumed by
 * "pass" is corrupt; protocols must detect that (CRC) or be reset. A side that closes during
 * a blackhole is not seen by the other until "pass", which then resets the survivor, as a
 * real network does once the partition heals.
 */
export class FaultProxy {
  private mode: FaultMode = "pass";
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }, listenPort = 0): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listenPort, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const proxy = new FaultProxy(server, target, (server.address() as net.AddressInfo).port);
    server.on("connection", (client) => proxy.accept(client));
    return proxy;
  }

  get currentMode(): FaultMode {
    return this.mode;
  }

  /** Open proxied connections. */
  get connections(): number {
    return this.pairs.size;
  }

  setMode(mode: FaultMode): void {
    this.mode = mode;
    if (mode === "reset") for (const p of this.pairs) this.destroyPair(p);
    if (mode === "pass") for (const p of this.pairs) if (p.client.destroyed || p.upstream.destroyed) this.destroyPair(p);
  }

  async close(): Promise<void> {
    for (const p of this.pairs) this.destroyPair(p);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.mode === "reset") {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // Manual forwarding (not pipe) so blackhole can discard while both ends stay open.
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on("data", (chunk: Buffer) => {
        if (this.mode !== "pass") return;
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
      from.on("end", () => {
        if (this.mode === "pass") to.end();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const onGone = () => {
      if (this.mode !== "blackhole") this.destroyPair(pair);
    };
    for (const s of [client, upstream]) {
      s.on("error", onGone);
      s.on("close", onGone);
    }
  }

  private destroyPair(pair: { client: net.Socket; upstream: net.Socket }): void {
    if (!this.pairs.delete(pair)) return;
    // A TCP RST, as a crashed host or dropped route would look to the endpoints.
    for (const s of [pair.client, pair.upstream]) if (!s.destroyed) s.resetAndDestroy();
  }
}
