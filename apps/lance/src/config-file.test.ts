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

  it("reads the cluster's peers in every form upstream accepts, from the root, [cluster] or [replication]", () => {
    const root = readConfigFile(withFile('node_id = 1\npeers = ["1@10.0.0.1:1993", "lance-2.lance:1993", "10.0.0.3:2993"]\nreplication_mode = "l1"\nreplication_addr = "0.0.0.0:1993"'));
    expect(root.layer.cluster).toEqual({
      peers: [
        { id: 1, host: "10.0.0.1", port: 1993 },
        { id: 2, host: "lance-2.lance", port: 1993 },
        { id: 2, host: "10.0.0.3", port: 2993 },
      ],
      mode: "l1",
      replicationAddr: { host: "0.0.0.0", port: 1993 },
    });
    expect(readConfigFile(withFile('[cluster]\npeers = ["1@a:1993,2@b:1993", "3@c:1993"]')).layer.cluster!.peers!.map((p) => p.id)).toEqual([1, 2, 3]);
    expect(readConfigFile(withFile('[replication]\npeers = ["1@a:1993", "2@b:1993"]\nmode = "l3"')).layer.cluster).toMatchObject({ mode: "l3", peers: [{ id: 1 }, { id: 2 }] });
    const standalone = readConfigFile(withFile('replication_mode = "standalone"\npeers = ["1@a:1993"]'));
    expect(standalone.layer.cluster!.peers).toEqual([]);
    expect(standalone.warnings).toEqual([expect.stringContaining("peers are ignored")]);
  });

  it("refuses bad files with a message that names the file and the key", () => {
    expect(() => readConfigFile(withFile("node_id = -1"))).toThrow(/lance\.toml: node_id must be a non-negative integer/);
    expect(() => readConfigFile(withFile('listen_addr = "nope"'))).toThrow(/listen_addr must be host:port/);
    expect(() => readConfigFile(withFile("data_dir = "))).toThrow(/is not valid TOML/);
    expect(() => readConfigFile(withFile('replication_mode = "l9"'))).toThrow(/replication_mode must be l1, l3 or standalone/);
    expect(() => readConfigFile("/nonexistent/lance.toml")).toThrow(/cannot read config file/);
    expect(readConfigFile(withFile("mystery = 1")).warnings).toEqual([expect.stringContaining("unknown key mystery")]);
    expect(readConfigFile(withFile('{"data_dir": "/j"}', "lance.json")).layer).toEqual({ dataDir: "/j" });
  });
});
