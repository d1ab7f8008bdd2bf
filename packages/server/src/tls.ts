import { readFileSync } from "node:fs";
import { createSecureContext, type TLSSocket } from "node:tls";
import { SecurityError } from "./errors.js";

/** `[tls]` of lance.toml (cluster.md §6.2), applied to the client port. */
export interface TlsConfig {
  enabled: boolean;
  /** PEM server certificate (chain). */
  certPath: string | null;
  /** PEM private key of that certificate. */
  keyPath: string | null;
  /** PEM CA bundle that client certificates must chain to (mTLS). */
  caPath: string | null;
  /** Refuse clients without a certificate signed by `ca_path`. */
  requireClientCert: boolean;
}

export const DEFAULT_TLS: TlsConfig = { enabled: false, certPath: null, keyPath: null, caPath: null, requireClientCert: false };

/** The first byte of every TLS connection: a handshake record (ClientHello). */
export const TLS_HANDSHAKE_RECORD = 0x16;

/** Why `[tls]` cannot be applied, or null. */
export function tlsConfigProblem(cfg: TlsConfig): string | null {
  if (!cfg.enabled) return null;
  if (!cfg.certPath || !cfg.keyPath) return "[tls] enabled = true needs cert_path and key_path";
  if (cfg.requireClientCert && !cfg.caPath) return "[tls] require_client_cert = true needs ca_path (the CA client certificates must chain to)";
  return null;
}

/** PEM contents for tls.createServer / setSecureContext. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** Reads the certificate, key and CA files and checks they load; throws LNC_TLS_MATERIAL naming the file. */
export function loadTlsMaterial(cfg: TlsConfig): TlsMaterial {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new SecurityError("LNC_TLS_MATERIAL", `cannot read [tls] ${what} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const cert = read(cfg.certPath!, "cert_path");
  const key = read(cfg.keyPath!, "key_path");
  const ca = cfg.caPath ? read(cfg.caPath, "ca_path") : undefined;
  const material = { cert, key, ...(ca ? { ca } : {}) };
  try {
    createSecureContext(material);
    return material;
  } catch (err) {
    throw new SecurityError("LNC_TLS_MATERIAL", `[tls] certificate, key or CA does not load (${cfg.certPath}, ${cfg.keyPath}${cfg.caPath ? `, ${cfg.caPath}` : ""}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The subject CN of the client certificate, for logs (mTLS). */
export function peerCommonName(socket: TLSSocket): string | undefined {
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn.join(",") : cn || undefined;
}
