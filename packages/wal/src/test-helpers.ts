import { afterAll } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WalEntry } from "./types.js";

const created: string[] = [];
// The temp dirs of a test file go when it is done (WAL files are preallocated: they add up).
afterAll(() => {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "lance-wal-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  created.push(d);
  return d;
}

/** Deterministic payload for entry `index` (so a reader can check content without keeping it). */
export function payloadFor(index: number, size = 16 + (index % 50)): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (index * 31 + i * 7) & 0xff;
  b.writeUInt32LE(index >>> 0, 0);
  return b;
}

export function entriesFrom(first: number, count: number, term = 1, size?: number): WalEntry[] {
  return Array.from({ length: count }, (_, i) => ({ index: first + i, term, type: (first + i) % 3, payload: payloadFor(first + i, size) }));
}

export function walFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
}
