import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { readdirSync } from "node:fs";
import { Wal } from "./wal.js";
import { tempDir } from "./test-helpers.js";

/** Content is a pure function of (index, term, size), so the model only keeps terms and sizes. */
function content(index: number, term: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (index * 13 + term * 7 + i) & 0xff;
  return b;
}

type Op =
  | { op: "append"; count: number; size: number; bumpTerm: boolean; concurrent: boolean }
  | { op: "truncate"; back: number }
  | { op: "checkpoint"; back: number }
  | { op: "reopen" }
  | { op: "reset"; ahead: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("append" as const), count: fc.integer({ min: 1, max: 30 }), size: fc.integer({ min: 0, max: 900 }), bumpTerm: fc.boolean(), concurrent: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("truncate" as const), back: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("checkpoint" as const), back: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: "reopen" as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reset" as const), ahead: fc.integer({ min: 0, max: 50 }) }) },
);

describe("Wal against a model (append, truncate, checkpoint, reset, reopen)", () => {
  it("replays a file that starts with entries a later truncation voids, after the file before it was recycled", async () => {
    // Found by the model property (seed 1206101729): file 2 begins with term-1 entries that its
    // own truncation record voids; file 1 is recycled once the checkpoint passes it.
    const dir = tempDir();
    const opts = { segmentSize: 8192, maxSpareFiles: 0 };
    const wal = await Wal.open(dir, opts);
    const add = (from: number, count: number, term: number, size: number) =>
      wal.append(Array.from({ length: count }, (_, i) => ({ index: from + i, term, payload: content(from + i, term, size) })));
    await add(1, 17, 1, 697);
    await add(18, 24, 1, 0);
    await wal.truncateSuffix(37);
    await wal.truncateSuffix(10);
    await add(10, 28, 3, 0);
    await wal.markCheckpoint(10);
    await add(38, 1, 3, 0);
    await wal.close();
    const again = await Wal.open(dir, opts);
    expect(again.lastIndex()).toBe(38);
    expect((await again.entries(again.firstIndex(), 39)).every((e) => e.term === 3)).toBe(true);
    await again.close();
  });

  it("always reads back exactly the modelled log", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 2 }), async (ops, maxSpareFiles) => {
        const dir = tempDir();
        const opts = { segmentSize: 8192, maxSpareFiles };
        let wal = await Wal.open(dir, opts);
        const terms = new Map<number, { term: number; size: number }>();
        let last = 0;
        let term = 1;
        let cp = { index: 0, term: 0 };
        let maxFiles = 0;
        try {
          for (const o of ops) {
            if (o.op === "append") {
              if (o.bumpTerm) term++;
              const batch = Array.from({ length: o.count }, (_, i) => ({ index: last + 1 + i, term, payload: content(last + 1 + i, term, o.size) }));
              if (o.concurrent) await Promise.all(batch.map((e) => wal.append(e)));
              else await wal.append(batch);
              for (const e of batch) terms.set(e.index, { term, size: o.size });
              last += o.count;
            } else if (o.op === "truncate") {
              const from = Math.max(cp.index + 1, last + 1 - o.back);
              await wal.truncateSuffix(from);
              for (let i = from; i <= last; i++) terms.delete(i);
              last = from - 1;
              term++;
            } else if (o.op === "checkpoint") {
              const idx = Math.max(cp.index, last - o.back);
              await wal.markCheckpoint(idx);
              cp = { index: idx, term: idx === cp.index ? cp.term : terms.get(idx)!.term };
            } else if (o.op === "reopen") {
              await wal.close();
              wal = await Wal.open(dir, opts);
              expect(wal.recovery.tornTail).toBeNull();
            } else {
              const idx = last + o.ahead;
              term++;
              await wal.reset(idx, term);
              terms.clear();
              last = idx;
              cp = { index: idx, term };
            }
            maxFiles = Math.max(maxFiles, readdirSync(dir).filter((n) => n.endsWith(".wal")).length);
            expect(wal.lastIndex()).toBe(last);
            expect(wal.checkpoint()).toEqual(cp);
            expect(wal.firstIndex()).toBeLessThanOrEqual(cp.index + 1);
            const first = wal.firstIndex();
            if (last >= first) {
              const got = await wal.entries(first, last + 1);
              expect(got.map((e) => e.index)).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
              for (const e of got) {
                const m = terms.get(e.index)!;
                expect(e.term).toBe(m.term);
                expect(Buffer.from(e.payload).equals(content(e.index, m.term, m.size))).toBe(true);
              }
              expect(wal.term(last)).toBe(terms.get(last)!.term);
            }
          }
          await wal.close();
          const again = await Wal.open(dir, opts);
          expect(again.lastIndex()).toBe(last);
          expect(again.recovery.tornTail).toBeNull();
          await again.close();
        } catch (err) {
          await wal.close().catch(() => undefined);
          throw err;
        }
        // 30 entries of at most ~1 KiB per op never need more than a handful of 8 KiB files.
        expect(maxFiles).toBeLessThan(60);
      }),
      { numRuns: Number(process.env.WAL_MODEL_RUNS ?? 150) },
    );
  }, 90_000);
});
