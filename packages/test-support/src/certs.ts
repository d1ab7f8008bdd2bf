import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why TLS tests cannot run here (no `openssl` CLI to make X.509 certificates), or null. */
export const opensslMissing: string | null = spawnSync("openssl", ["version"]).status === 0 ? null : "the openssl CLI is not installed (needed to generate test certificates)";

/** PEM file paths of a throwaway PKI. */
export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second, unrelated CA and a client certificate it signed (the "wrong CA" cases). */
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
  /** A server certificate for 127.0.0.1 signed by the other CA (certificate rotation). */
  otherServerCert: string;
  otherServerKey: string;
  /** A cluster node's certificate (test CA): server and client at once, so both extended key usages. */
  nodeCert: string;
  nodeKey: string;
}

/** Generates CAs and leaf certificates (EC P-256, valid 2 days) with the openssl CLI. */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "lance-certs-"));
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const ca = (name: string) =>
    openssl("req", "-x509", ...ecKey, "-keyout", p(`${name}.key`), "-out", p(`${name}.pem`), "-days", "2", "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  const leaf = (name: string, signer: string, cn: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    openssl("req", ...ecKey, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`), "-subj", `/CN=${cn}`);
    openssl("x509", "-req", "-in", p(`${name}.csr`), "-CA", p(`${signer}.pem`), "-CAkey", p(`${signer}.key`), "-CAcreateserial", "-out", p(`${name}.pem`), "-days", "2", "-extfile", p(`${name}.ext`));
  };
  const serverExt = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
  const clientExt = "extendedKeyUsage=clientAuth\n";
  ca("test-ca");
  ca("other-ca");
  leaf("server", "test-ca", "localhost", serverExt);
  leaf("client", "test-ca", "lance-client", clientExt);
  leaf("other-client", "other-ca", "intruder", clientExt);
  leaf("other-server", "other-ca", "localhost", serverExt);
  leaf("node", "test-ca", "lance-node", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
  return {
    dir,
    ca: p("test-ca.pem"),
    serverCert: p("server.pem"),
    serverKey: p("server.key"),
    clientCert: p("client.pem"),
    clientKey: p("client.key"),
    otherCa: p("other-ca.pem"),
    otherClientCert: p("other-client.pem"),
    otherClientKey: p("other-client.key"),
    otherServerCert: p("other-server.pem"),
    otherServerKey: p("other-server.key"),
    nodeCert: p("node.pem"),
    nodeKey: p("node.key"),
  };
}
