import { afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBatch, encodeSegmentHeader, type BatchInput } from "./format.js";

/** A segment image built in memory, with the boundaries of each batch. */
export function buildSegment(baseOffset: number, batches: BatchInput[], createdNs = 1_700_000_000_000_000_000n) {
  const parts: Uint8Array[] = [encodeSegmentHeader({ baseOffset, createdNs })];
  const ends: number[] = [];
  let size = parts[0]!.byteLength;
  let next = baseOffset;
  for (const b of batches) {
    const enc = encodeBatch(next, b);
    parts.push(enc);
    size += enc.byteLength;
    ends.push(size);
    next += b.recordCount;
  }
  return { bytes: Buffer.concat(parts), ends, nextOffset: next };
}

export function sampleBatches(n: number, payloadSize = 20): BatchInput[] {
  return Array.from({ length: n }, (_, i) => ({
    payload: Buffer.alloc(payloadSize + i, 65 + (i % 26)),
    recordCount: 1 + (i % 3),
    firstTimestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n,
  }));
}

const created: string[] = [];
// The temp dirs of a test file go when it is done (WAL files are preallocated: they add up).
afterAll(() => {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "lance-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  created.push(d);
  return d;
}
