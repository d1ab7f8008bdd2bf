import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeBatch, encodeSegmentHeader, scanSegmentBytes } from "@lance/segment-format";
import { SegmentIndexBuilder } from "./segment-index.js";
import { encodeCatalog } from "./catalog.js";

const DOC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "docs", "storage-format.md");

/** The fenced ```hex <name> blocks of docs/storage-format.md, as bytes. */
function docBlocks(): Map<string, Buffer> {
  const blocks = new Map<string, Buffer>();
  for (const m of readFileSync(DOC, "utf8").matchAll(/```hex ([\w-]+)\n([\s\S]*?)```/g)) {
    blocks.set(m[1]!, Buffer.from(m[2]!.replace(/\s+/g, ""), "hex"));
  }
  return blocks;
}

const TS = 1_700_000_000_000_000_000n;

describe("docs/storage-format.md worked example", () => {
  const doc = docBlocks();
  const header = encodeSegmentHeader({ baseOffset: 0, createdNs: TS });
  const batch = encodeBatch(0, { payload: Buffer.from("hi\nyo"), recordCount: 2, firstTimestampNs: TS, lastTimestampNs: TS });

  it("matches the segment encoder byte for byte", () => {
    expect(doc.get("segment-header")).toEqual(Buffer.from(header));
    expect(doc.get("batch")).toEqual(Buffer.from(batch));
    const scan = scanSegmentBytes(Buffer.concat([header, batch]));
    expect(scan).toMatchObject({ ok: true, fileSize: 77, batchCount: 1, recordCount: 2, firstOffset: 0, nextOffset: 2 });
  });

  it("matches the index and catalog encoders byte for byte", () => {
    const b = new SegmentIndexBuilder(0, 4096);
    b.add({ baseOffset: 0, nextOffset: 2, position: 32, size: batch.byteLength, firstTimestampNs: TS, lastTimestampNs: TS });
    expect(doc.get("segment-index")).toEqual(Buffer.from(b.encode()));
    const catalog = encodeCatalog({
      builtNs: 1_700_000_000_500_000_000n,
      logStartOffset: 0,
      nextOffset: 2,
      entries: [
        { kind: "segment", state: "active", hasIndex: true, baseOffset: 0, nextOffset: 2, createdNs: TS, closedNs: null, minTimestampNs: TS, maxTimestampNs: TS, sizeBytes: 77, batchCount: 1 },
      ],
    });
    expect(doc.get("topic-catalog")).toEqual(Buffer.from(catalog));
  });
});
