import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readConfigFile } from "./config-file.js";

const SAMPLE = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "packaging", "lance.toml");

function withFile(text: string, name = "lance.toml"): string {
  const p = join(mkdtempSync(join(tmpdir(), "lance-cfg-")), name);
  writeFileSync(p, text);
  return p;
}

describe("lance.toml", () => {
  it("reads the shipped sample", () => {
    const { layer, warnings } = readConfigFile(SAMPLE);
    expect(warnings).toEqual([]);
    expect(layer).toMatchObject({ nodeId: 0, dataDir: "/data/lance", listen: { host: "0.0.0.0", port: 1992 }, segmentMaxBytes: 1073741824, maxPayloadSize: 16777156 });
    expect(layer.readOnly).toBeUndefined();
  });

  it("takes `echo read_only = true >> lance.toml` whichever table the file ends in (runbook 8.2)", () => {
    const p = withFile(readFileSync(SAMPLE, "utf8"));
    appendFileSync(p, "read_only = true\n");
    const { layer, warnings } = readConfigFile(p);
    expect(layer.readOnly).toBe(true);
    expect(warnings.join("\n")).toMatch(/read_only found inside \[io\]/);
    const top = withFile('data_dir = "/x"\nread_only = true\n');
    expect(readConfigFile(top)).toEqual({ layer: { dataDir: "/x", readOnly: true }, warnings: [] });
    const noNewline = withFile('data_dir = "/x"\n[tls]\nenabled = false');
    appendFileSync(noNewline, "\nread_only = true\n");
    expect(readConfigFile(noNewline).layer.readOnly).toBe(true);
  });

  it("refuses bad files with a message that names the file and the key", () => {
    expect(() => readConfigFile(withFile("node_id = -1"))).toThrow(/lance\.toml: node_id must be a non-negative integer/);
    expect(() => readConfigFile(withFile('listen_addr = "nope"'))).toThrow(/listen_addr must be host:port/);
    expect(() => readConfigFile(withFile("data_dir = "))).toThrow(/is not valid TOML/);
    expect(() => readConfigFile(withFile('peers = ["10.0.0.2:1993"]'))).toThrow(/standalone only/);
    expect(() => readConfigFile("/nonexistent/lance.toml")).toThrow(/cannot read config file/);
    expect(readConfigFile(withFile("mystery = 1")).warnings).toEqual([expect.stringContaining("unknown key mystery")]);
    expect(readConfigFile(withFile('{"data_dir": "/j"}', "lance.json")).layer).toEqual({ dataDir: "/j" });
  });
});
