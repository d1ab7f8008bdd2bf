import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLanceError } from "@lance/segment-format";
import { repairWal } from "./repair.js";
import { scanWalDir, scanWalFile } from "./scan.js";
import { Wal } from "./wal.js";
import { tempDir, walFiles } from "./test-helpers.js";

/**
 * Damage on a WAL with a history: recycled files (stale frames), truncation records, several
 * epochs. The exact outcome is hard to predict here, so this checks safety: replay either refuses
 * with the runbook error or returns only entries that were really written (right content for
 * their index and term, terms never decreasing), and after either repair mode the WAL opens.
 */
const SEGMENT = 8192;
const sizes = new Map<string, number>();
let pristine: string;

function content(index: number, term: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (index * 29 + term * 11 + i) & 0xff;
  return b;
}

beforeAll(async () => {
  pristine = tempDir();
  let wal = await Wal.open(pristine, { segmentSize: SEGMENT, maxSpareFiles: 3 });
  let term = 1;
  const add = async (count: number, size: number): Promise<void> => {
    const from = wal.lastIndex() + 1;
    const batch = Array.from({ length: count }, (_, i) => ({ index: from + i, term, payload: content(from + i, term, size) }));
    await wal.append(batch);
    for (const e of batch) sizes.set(`${e.index}:${term}`, size);
  };
  for (let round = 0; round < 12; round++) {
    await add(20, 100 + round * 37);
    await add(15, 300);
    await wal.truncateSuffix(wal.lastIndex() - 7);
    term++;
    await add(10, 50);
    await wal.markCheckpoint(wal.lastIndex() - 30);
    if (round % 4 === 3) {
      await wal.close();
      wal = await Wal.open(pristine, { segmentSize: SEGMENT, maxSpareFiles: 3 });
    }
  }
  await wal.close();
  const files = walFiles(pristine);
  expect(files.length).toBeGreaterThanOrEqual(3);
  const kinds = files.flatMap((n) => scanWalFile(join(pristine, n)).records.map((r) => r.kind));
  expect(kinds).toContain("truncate");
  expect(new Set(files.map((n) => scanWalFile(join(pristine, n)).header?.epoch)).size).toBe(files.length);
}, 60_000);

async function expectOnlyRealEntries(wal: Wal): Promise<void> {
  let prev = 0;
  const holes = wal.holes();
  for (let i = wal.firstIndex(); i <= wal.lastIndex(); i++) {
    if (holes.some((h) => h.from <= i && i <= h.to)) continue;
    const [e] = await wal.entries(i, i + 1);
    const size = sizes.get(`${i}:${e!.term}`);
    expect(size, `entry ${i} term ${e!.term} was never written`).toBeDefined();
    expect(Buffer.from(e!.payload).equals(content(i, e!.term, size!))).toBe(true);
    expect(e!.term).toBeGreaterThanOrEqual(prev);
    prev = e!.term;
  }
}

describe("damage on a WAL with recycled files, truncations and several epochs", () => {
  it("replay is safe, and both repair modes leave a WAL that opens", async () => {
    const files = walFiles(pristine);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: files.length - 1 }),
        fc.nat({ max: SEGMENT - 1 }),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom("flip", "zero", "garbage"),
        fc.boolean(),
        async (f, from, len, fill, skipCorrupt) => {
          const root = tempDir();
          const dir = join(root, "wal");
          cpSync(pristine, dir, { recursive: true });
          const path = join(dir, files[f]!);
          const bytes = readFileSync(path);
          for (let i = from; i < Math.min(bytes.byteLength, from + len); i++) {
            bytes[i] = fill === "zero" ? 0 : fill === "flip" ? bytes[i]! ^ 0x10 : (i * 193 + len) & 0xff;
          }
          writeFileSync(path, bytes);

          const opened = await Wal.open(dir, { segmentSize: SEGMENT }).catch((e: unknown) => e);
          if (opened instanceof Wal) {
            await expectOnlyRealEntries(opened);
            await opened.close();
          } else {
            expect(isLanceError(opened, "LNC_WAL_CORRUPT"), String(opened)).toBe(true);
            expect(scanWalDir(dir).status).toBe("corrupt");
          }
          repairWal(dir, { skipCorrupt });
          const repaired = await Wal.open(dir, { segmentSize: SEGMENT });
          expect(repaired.recovery.tornTail).toBeNull();
          await expectOnlyRealEntries(repaired);
          await repaired.close();
        },
      ),
      { numRuns: Number(process.env.WAL_DAMAGE_RUNS ?? 150) },
    );
  }, 120_000);
});
