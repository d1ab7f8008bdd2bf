export { makeTestCerts, opensslMissing, type TestCerts } from "./certs.js";
