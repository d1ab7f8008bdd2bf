export { makeTestCerts, opensslMissing, type TestCerts } from "./certs.js";
export { FaultProxy, type FaultMode } from "./fault-proxy.js";
