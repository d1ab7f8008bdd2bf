import { ClientError } from "./errors.js";

export const DEFAULT_PORT = 1992;
export const DEFAULT_SERVER = `127.0.0.1:${DEFAULT_PORT}`;

export interface ServerAddress {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port`, or a bare host (port 1992). */
export function parseAddress(text: string): ServerAddress {
  const trimmed = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else {
    const colon = trimmed.lastIndexOf(":");
    if (colon >= 0 && trimmed.indexOf(":") === colon) {
      host = trimmed.slice(0, colon);
      portText = trimmed.slice(colon + 1);
    } else {
      host = trimmed;
    }
  }
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (host === "" || !Number.isInteger(port) || port < 1 || port > 65535 || (portText !== undefined && !/^\d+$/.test(portText))) {
    throw new ClientError("LNC_CLIENT_BAD_ADDRESS", `not a server address (host:port): ${JSON.stringify(text)}`);
  }
  return { host, port };
}

export function formatAddress(a: ServerAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
