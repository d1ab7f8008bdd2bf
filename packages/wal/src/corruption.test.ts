import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLanceError } from "@lance/segment-format";
import { analyzeWal } from "./analyze.js";
import { FILE_HEADER_SIZE } from "./format.js";
import { repairWal } from "./repair.js";
import { scanWalDir, scanWalFile } from "./scan.js";
import { EMPTY_CHECKPOINT } from "./state.js";
import { Wal } from "./wal.js";
import { entriesFrom, payloadFor, tempDir, walFiles } from "./test-helpers.js";

const SEGMENT = 4096;
const RUNS = Number(process.env.WAL_DAMAGE_RUNS ?? 150);
const TIMEOUT = Math.max(60_000, RUNS * 300);
const N = 150;

interface Layout {
  files: string[];
  sizes: number[];
  /** Per entry (index - 1): file name, offset, size. */
  frames: { file: string; offset: number; size: number }[];
}

let pristine: string;
let layout: Layout;

beforeAll(async () => {
  pristine = tempDir();
  const wal = await Wal.open(pristine, { segmentSize: SEGMENT });
  for (let i = 1; i <= N; i += 5) await wal.append(entriesFrom(i, 5, 1 + Math.floor(i / 40)));
  await wal.close();
  const a = analyzeWal(pristine, EMPTY_CHECKPOINT, "replay");
  layout = {
    files: a.files.map((f) => f.name),
    sizes: a.files.map((f) => f.size),
    frames: a.entries.map((e) => ({ file: a.files[e.file]!.name, offset: e.offset, size: e.size })),
  };
  expect(a.entries.length).toBe(N);
  expect(layout.files.length).toBeGreaterThanOrEqual(3);
});

/** A damaged byte range in one file. */
interface Hit {
  file: number;
  from: number;
  to: number;
}

type Fill = "flip" | "zero" | "garbage";

function damage(dir: string, hit: Hit, fill: Fill, seed: number): void {
  const path = join(dir, layout.files[hit.file]!);
  const bytes = readFileSync(path);
  let x = seed | 1;
  for (let i = hit.from; i < hit.to; i++) {
    if (fill === "zero") bytes[i] = 0;
    else if (fill === "flip") bytes[i] = bytes[i]! ^ (1 << (seed % 8));
    else {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      bytes[i] = x & 0xff;
    }
  }
  writeFileSync(path, bytes);
}

/**
 * What replay must do with a damaged range: entries whose frame it overlaps are "affected",
 * and a damaged file header cuts the chain before that file's entries. If any intact entry
 * lies beyond the first break, startup must refuse; otherwise it recovers exactly the entries
 * before the break.
 */
function expectation(dir: string, hit: Hit): { refuse: boolean; keep: number; affected: Set<number> } {
  const name = layout.files[hit.file]!;
  const a = readFileSync(join(pristine, name));
  const b = readFileSync(join(dir, name));
  const differs = (from: number, to: number): boolean => !a.subarray(from, to).equals(b.subarray(from, to));
  const affected = new Set<number>();
  layout.frames.forEach((f, i) => {
    if (f.file === name && differs(f.offset, f.offset + f.size)) affected.add(i + 1);
  });
  let brk = Math.min(...affected, Infinity);
  if (differs(0, FILE_HEADER_SIZE)) {
    const firstInFile = layout.frames.findIndex((f) => f.file === name);
    if (firstInFile >= 0) brk = Math.min(brk, firstInFile + 1);
  }
  if (!Number.isFinite(brk)) return { refuse: false, keep: N, affected };
  let intactAfter = false;
  for (let i = brk; i <= N; i++) if (!affected.has(i)) intactAfter = true;
  return { refuse: intactAfter, keep: brk - 1, affected };
}

async function expectPrefix(wal: Wal, keep: number): Promise<void> {
  expect(wal.lastIndex()).toBe(keep);
  if (keep === 0) return;
  const got = await wal.entries(1, keep + 1);
  expect(got.length).toBe(keep);
  for (const e of got) {
    expect(Buffer.from(e.payload).equals(payloadFor(e.index))).toBe(true);
    expect(e.term).toBe(1 + Math.floor((Math.floor((e.index - 1) / 5) * 5 + 1) / 40));
  }
}

const hitArb = fc
  .record({
    file: fc.nat(),
    pos: fc.nat(),
    len: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 64 }), fc.constant(512)),
    fill: fc.constantFrom<Fill>("flip", "zero", "garbage"),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map(({ file, pos, len, fill, seed }) => {
    const f = file % (layout?.files.length ?? 1);
    const size = layout?.sizes[f] ?? SEGMENT;
    // Bias towards the region that holds data: headers and frames.
    const from = pos % Math.min(size, 3200);
    return { hit: { file: f, from, to: Math.min(size, from + len) }, fill, seed };
  });

describe("replay under damage (torn writes, bit flips, zeroed pages, garbage)", () => {
  it("recovers exactly the valid prefix or refuses with the runbook error", async () => {
    await fc.assert(
      fc.asyncProperty(hitArb, async ({ hit, fill, seed }) => {
        const dir = tempDir();
        cpSync(pristine, dir, { recursive: true });
        damage(dir, hit, fill, seed);
        const exp = expectation(dir, hit);
        const opened = await Wal.open(dir, { segmentSize: SEGMENT }).catch((e: unknown) => e);
        if (exp.refuse) {
          expect(isLanceError(opened, "LNC_WAL_CORRUPT")).toBe(true);
          expect((opened as Error).message).toMatch(/^WAL replay failed: \S+\.wal at byte \d+: .+\nrun: lnc repair --path \S+ .*--skip-corrupt/);
          expect(scanWalDir(dir).status).toBe("corrupt");
          return;
        }
        expect(opened).toBeInstanceOf(Wal);
        const wal = opened as Wal;
        await expectPrefix(wal, exp.keep);
        await wal.append({ index: exp.keep + 1, term: 9, payload: payloadFor(exp.keep + 1) });
        await wal.close();
        const again = await Wal.open(dir, { segmentSize: SEGMENT });
        expect(again.recovery.tornTail).toBeNull();
        expect(again.lastIndex()).toBe(exp.keep + 1);
        await again.close();
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it("repair truncates at the first damage; skip-corrupt keeps every intact entry; both back up first", async () => {
    await fc.assert(
      fc.asyncProperty(hitArb, fc.boolean(), async ({ hit, fill, seed }, skipCorrupt) => {
        const root = tempDir();
        const dir = join(root, "wal");
        cpSync(pristine, dir, { recursive: true });
        damage(dir, hit, fill, seed);
        const exp = expectation(dir, hit);
        const before = walFiles(dir).map((n) => readFileSync(join(dir, n)));

        const now = new Date();
        const dry = repairWal(dir, { skipCorrupt, dryRun: true, now });
        expect(walFiles(dir).map((n) => readFileSync(join(dir, n)))).toEqual(before);
        expect(readdirSync(root)).toEqual(["wal"]);

        const report = repairWal(dir, { skipCorrupt, now });
        expect({ ...report, dryRun: true }).toEqual(dry);
        if (report.action === "rewritten") {
          const backup = report.backupDir!;
          expect(existsSync(backup)).toBe(true);
          expect(walFiles(backup).map((n) => readFileSync(join(backup, n)))).toEqual(before);
        }
        const wal = await Wal.open(dir, { segmentSize: SEGMENT });
        expect(wal.recovery.tornTail).toBeNull();
        if (!skipCorrupt || !exp.refuse) {
          await expectPrefix(wal, exp.keep);
          if (exp.refuse) expect(report.droppedEntries).toBe(N - exp.keep - [...exp.affected].filter((i) => i > exp.keep).length);
        } else {
          let lastIntact = 0;
          for (let i = 1; i <= N; i++) if (!exp.affected.has(i)) lastIntact = i;
          expect(wal.lastIndex()).toBe(lastIntact);
          const holes = wal.holes();
          for (let i = 1; i <= lastIntact; i++) {
            const inHole = holes.some((h) => h.from <= i && i <= h.to);
            expect(inHole).toBe(exp.affected.has(i));
            if (!inHole) {
              const [e] = await wal.entries(i, i + 1);
              expect(Buffer.from(e!.payload).equals(payloadFor(i))).toBe(true);
            } else {
              await expect(wal.entries(i, i + 1)).rejects.toMatchObject({ code: "LNC_WAL_GAP" });
            }
          }
        }
        await wal.append({ index: wal.lastIndex() + 1, term: 9, payload: payloadFor(1) });
        await wal.close();
      }),
      { numRuns: Math.ceil(RUNS / 2.5) },
    );
  }, TIMEOUT);

  it("scanWalFile lists every frame with its CRC status and locates damage", () => {
    const dir = tempDir();
    cpSync(pristine, dir, { recursive: true });
    const name = layout.files[0]!;
    const f = layout.frames[3]!;
    damage(dir, { file: 0, from: f.offset + 45, to: f.offset + 46 }, "flip", 3);
    const scan = scanWalFile(join(dir, name));
    expect(scan.ok).toBe(false);
    const bad = scan.records.filter((r) => r.crc === "mismatch");
    expect(bad).toEqual([expect.objectContaining({ offset: f.offset, index: 4 })]);
    expect(scan.problems).toEqual([expect.objectContaining({ offset: f.offset, reason: "CRC mismatch", bytes: f.size })]);
    expect(scan.records.filter((r) => r.crc === "ok").length).toBe(layout.frames.filter((x) => x.file === name).length - 1);
    expect(scanWalFile(join(pristine, name))).toMatchObject({ ok: true, problems: [], end: { kind: "clean" } });
  });
});
