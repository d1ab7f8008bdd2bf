import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AckModel } from "../fixtures/crash-model.mjs";
import { Wal } from "./wal.js";
import { tempDir } from "./test-helpers.js";

const WRITER = fileURLToPath(new URL("../fixtures/crash-writer.mjs", import.meta.url));
const DIST = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const ITERATIONS = Number(process.env.WAL_CRASH_ITERATIONS ?? 36);
// Small files, so kills also land in file rotation and recycling.
const SEGMENT = 32 * 1024;

/** Runs the writer child, SIGKILLs it after `killAfterMs` (counted from its "ready" line unless `early`). */
function runWriter(dir: string, seed: number, killAfterMs: number, early: boolean): Promise<{ stdout: string; stderr: string; code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(SEGMENT), String(seed)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let armed = false;
    const arm = (): void => {
      if (armed) return;
      armed = true;
      setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    };
    if (early) arm();
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
      if (stdout.startsWith("ready")) arm();
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ stdout, stderr, code, signal }));
  });
}

describe("crash safety with real processes", () => {
  it(`keeps every acknowledged entry across ${ITERATIONS} SIGKILLs`, async () => {
    expect(existsSync(DIST), `the writer child runs the built package: pnpm --filter @lance/wal build`).toBe(true);
    const dir = tempDir();
    const model = new AckModel();
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let it = 0; it < ITERATIONS; it++) {
      const early = rand() < 0.15;
      const run = await runWriter(dir, it + 1, early ? Math.floor(rand() * 80) : 10 + Math.floor(rand() * 250), early);
      expect(run.signal, run.stderr).toBe("SIGKILL");
      model.feed(run.stdout);
      const wal = await Wal.open(dir, { segmentSize: SEGMENT });
      const problems = await model.check(wal);
      await wal.close();
      expect(problems, `iteration ${it}`).toEqual([]);
    }
    expect(model.ackCount).toBeGreaterThan(ITERATIONS * 10);
  }, Math.max(120_000, ITERATIONS * 1500));
});
