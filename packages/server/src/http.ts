import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { HostPort } from "./config.js";

export interface HealthState {
  live: boolean;
  ready: boolean;
  /** Why the node is not ready, when it is not. */
  reasons: string[];
}

/**
 * `/health/live`, `/health/ready` (JSON, 200 or 503) and `/metrics` (Prometheus text) on one
 * HTTP listener; the server starts one per distinct address it is given.
 */
export function startHttp(addr: HostPort, routes: { health?: () => HealthState; metrics?: Registry }): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = "application/json") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") return send(405, JSON.stringify({ error: "method_not_allowed" }));
    if (routes.health && path === "/health/live") {
      const h = routes.health();
      return send(h.live ? 200 : 503, JSON.stringify({ status: h.live ? "alive" : "not_alive" }));
    }
    if (routes.health && path === "/health/ready") {
      const h = routes.health();
      return send(h.ready ? 200 : 503, JSON.stringify({ status: h.ready ? "ready" : "not_ready", reasons: h.reasons }));
    }
    if (routes.health && path === "/health") {
      const h = routes.health();
      return send(h.live && h.ready ? 200 : 503, JSON.stringify(h));
    }
    if (routes.metrics && path === "/metrics") {
      routes.metrics.metrics().then(
        (text) => send(200, text, routes.metrics!.contentType),
        (err: Error) => send(500, JSON.stringify({ error: err.message })),
      );
      return;
    }
    send(404, JSON.stringify({ error: "not_found" }));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(addr.port, addr.host, () => resolve(server));
  });
}
