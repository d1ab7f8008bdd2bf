#!/usr/bin/env node
// The README's main job: start a standalone `lance` on ./data (or $LANCE_DATA_DIR), create a
// topic, produce a few records with `lnc produce`, read them back with `lnc consume`, then keep
// the server running until Ctrl-C (or exit right away with --exit).
import { spawn, spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const LANCE = join(root, "apps/lance/dist/main.js");
const LNC = join(root, "apps/lnc/dist/main.js");
const dataDir = resolve(process.env.LANCE_DATA_DIR ?? "data");
const listen = process.env.LANCE_LISTEN ?? "127.0.0.1:1992";
const health = process.env.LANCE_HEALTH ?? "127.0.0.1:8080";
const exitAfter = process.argv.includes("--exit");

const server = spawn(process.execPath, [LANCE, "--standalone", "--data-dir", dataDir, "--listen", listen, "--health", health, "--metrics", health], {
  stdio: ["ignore", "pipe", "inherit"],
});
const ready = new Promise((resolveReady, reject) => {
  let buf = "";
  server.stdout.on("data", (d) => {
    buf += d.toString();
    if (buf.includes('"msg":"lance ready"')) resolveReady();
  });
  server.on("exit", (code) => reject(new Error(`lance exited with ${code} before it was ready (is ${listen} or ${health} in use?)`)));
});

function lnc(args, input) {
  console.log(`$ lnc ${args.join(" ")}${input ? `   <<< ${JSON.stringify(input)}` : ""}`);
  const r = spawnSync(process.execPath, [LNC, ...args], { encoding: "utf8", input });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`lnc ${args[0]} exited with ${r.status}`);
  return r.stdout;
}

try {
  await ready;
  console.log(`lance is running: data in ${dataDir}, clients on ${listen}, health and metrics on http://${health}\n`);
  lnc(["create-topic", "--server", listen, "--name", "quickstart"]);
  lnc(["produce", "--server", listen, "--topic", "quickstart"], "hello\nfrom\nLANCE\n");
  lnc(["consume", "--server", listen, "--topic", "quickstart", "--offset", "earliest"]);
  lnc(["list-topics", "--server", listen, "--json"]);
  if (exitAfter) {
    server.kill("SIGTERM");
  } else {
    console.log(`\nThe server keeps running. Try: node apps/lnc/dist/main.js consume --server ${listen} --topic quickstart --follow`);
    console.log("Ctrl-C stops it (it drains first).");
    process.on("SIGINT", () => server.kill("SIGTERM"));
  }
  const code = await new Promise((r) => server.on("exit", r));
  process.exit(code ?? 1);
} catch (err) {
  console.error(`quickstart: ${err.message}`);
  server.kill("SIGTERM");
  process.exit(1);
}
