import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { killAllLance } from "./test-lance.js";

const QUICKSTART = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "scripts", "quickstart.mjs");

afterEach(killAllLance);

describe("README main job (pnpm start)", () => {
  it("starts a standalone server and shows a produce/consume round trip", { timeout: 60_000 }, () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const r = spawnSync(process.execPath, [QUICKSTART, "--exit"], {
      encoding: "utf8",
      env: { ...process.env, LANCE_DATA_DIR: mkdtempSync(join(tmpdir(), "quickstart-")), LANCE_LISTEN: `127.0.0.1:${port}`, LANCE_HEALTH: `127.0.0.1:${port + 1}` },
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("Produced 3 records");
    expect(r.stdout).toMatch(/\$ lnc consume [^\n]*\nhello\nfrom\nLANCE\n/);
  });
});
