import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScenario, type ScenarioOptions, type ScenarioResult } from "./sim/scenario.js";
import { SafetyChecker } from "./sim/checker.js";
import type { Entry } from "./types.js";

const testdata = join(dirname(fileURLToPath(import.meta.url)), "..", "testdata");

function failures(results: ScenarioResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `seed ${r.seed}: ${r.failure}`);
}

describe("simulator: CI slice", () => {
  it("default profile: 500 seeds keep every safety property and converge after healing", () => {
    const results = Array.from({ length: 500 }, (_, i) => runScenario({ seed: 100_000 + i }));
    expect(failures(results)).toEqual([]);
    const faults = results.reduce((a, r) => a + r.faults.crashes + r.faults.wipes + r.faults.partitions + r.faults.dropped + r.faults.duplicated, 0);
    expect(faults).toBeGreaterThan(10_000);
    expect(results.reduce((a, r) => a + r.faults.wipes, 0)).toBeGreaterThan(50);
    expect(results.reduce((a, r) => a + r.snapshotsInstalled, 0)).toBeGreaterThan(100);
    expect(results.reduce((a, r) => a + r.acked, 0)).toBeGreaterThan(10_000);
    const samples = results.flatMap((r) => r.electionAfterLeaderCrash);
    expect(samples.length).toBeGreaterThan(100);
    // After a leader crash a new one needs at least one election timeout (15 ticks).
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(15);
  });

  it("crash-heavy profile: 300 seeds", () => {
    const results = Array.from({ length: 300 }, (_, i) => runScenario({ seed: 200_000 + i, crashRate: 0.03 }));
    expect(failures(results)).toEqual([]);
  });

  it("long runs: 30 seeds of 2000 chaos ticks", () => {
    const results = Array.from({ length: 30 }, (_, i) => runScenario({ seed: 300_000 + i, faultTicks: 2000 }));
    expect(failures(results)).toEqual([]);
  });

  it("is reproducible from its seed", () => {
    expect(runScenario({ seed: 4242 })).toEqual(runScenario({ seed: 4242 }));
  });
});

describe("simulator: regression seeds (testdata/regressions.json)", () => {
  const cases = JSON.parse(readFileSync(join(testdata, "regressions.json"), "utf8")) as Array<{
    seed: number;
    options?: Partial<ScenarioOptions>;
    found: string;
  }>;
  for (const c of cases) {
    it(`seed ${c.seed} (${c.found})`, () => {
      const r = runScenario({ ...c.options, seed: c.seed });
      expect(r.failure).toBeNull();
    });
  }
});

describe("SafetyChecker", () => {
  const entry = (index: number, term: number, data: string): Entry => ({ index, term, type: "normal", data: new TextEncoder().encode(data) });

  it("flags two leaders in one term", () => {
    const c = new SafetyChecker();
    c.leaderElected(3, 1, () => undefined, 1, 0);
    expect(() => c.leaderElected(3, 2, () => undefined, 1, 0)).toThrow(/two leaders in term 3/);
  });

  it("flags different entries under one (index, term) and different applied entries", () => {
    const c = new SafetyChecker();
    c.logAppended(1, entry(4, 2, "a"), 2);
    expect(() => c.logAppended(2, entry(4, 2, "b"), 2)).toThrow(/log matching/);
    expect(() => c.logAppended(2, entry(4, 2, "a"), 1)).toThrow(/log matching/);
    c.entryApplied(1, 4, "2/normal/a");
    expect(() => c.entryApplied(2, 4, "2/normal/b")).toThrow(/state machine safety/);
  });

  it("flags a leader missing a committed entry", () => {
    const c = new SafetyChecker();
    c.entryApplied(1, 1, "1/normal/a");
    c.entryApplied(1, 2, "1/normal/b");
    expect(() => c.leaderElected(2, 3, () => 1, 1, 1)).toThrow(/ends at 1, but index 2 was committed/);
    expect(() => c.leaderElected(3, 3, (i) => (i === 2 ? 3 : 1), 1, 2)).toThrow(/term 3 at committed index 2/);
    expect(() => c.leaderElected(4, 3, () => 1, 1, 2)).not.toThrow();
  });
});
