import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The built `lnc` binary the CLI tests run. */
export const LNC = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

export function lnc(...args: string[]): Run {
  const r = spawnSync(process.execPath, [LNC, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The binary without blocking the event loop (for tests with an in-process server). */
export function lncAsync(args: string[], input = ""): Promise<Run> {
  return collect(spawn(process.execPath, [LNC, ...args], { stdio: ["pipe", "pipe", "pipe"] }), input);
}

/** A shell pipeline, for the runbook's `... | jq` lines. */
export function sh(command: string, input = ""): Promise<Run> {
  return collect(spawn("sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"] }), input);
}

function collect(child: ReturnType<typeof spawn>, input: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
    child.stdin!.end(input);
  });
}
