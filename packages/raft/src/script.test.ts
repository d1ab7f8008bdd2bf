import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";
import { runScript } from "./test-script.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "testdata");

describe("scripted interactions (testdata/*.txt)", () => {
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".txt")).sort()) {
    it(f, () => runScript(join(dir, f)));
  }
});
