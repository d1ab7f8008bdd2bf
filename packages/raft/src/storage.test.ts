import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryStorage } from "./storage.js";
import type { Entry } from "./types.js";

const e = (index: number, term: number): Entry => ({ index, term, type: "normal", data: new Uint8Array([index & 255]) });

describe("MemoryStorage", () => {
  it("appends, truncates a conflicting suffix and reports bounds", () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1), e(3, 1)]);
    s.append([e(2, 2)]);
    expect(s.lastIndex()).toBe(2);
    expect(s.term(2)).toBe(2);
    expect(() => s.append([e(5, 2)])).toThrow(expect.objectContaining({ code: "LNC_RAFT_BAD_ARGUMENT" }));
    expect(() => s.term(3)).toThrow(expect.objectContaining({ code: "LNC_RAFT_UNAVAILABLE" }));
  });

  it("snapshots, compacts and serves chunks of the current snapshot only", () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
    const meta = s.createSnapshot(3, new Uint8Array([1, 2, 3, 4, 5]));
    expect(meta).toEqual({ index: 3, term: 2, size: 5 });
    s.compact(2);
    expect(s.firstIndex()).toBe(3);
    expect(s.term(2)).toBe(1);
    expect(() => s.entries(2, 4)).toThrow(expect.objectContaining({ code: "LNC_RAFT_COMPACTED" }));
    expect(() => s.compact(4)).toThrow(expect.objectContaining({ code: "LNC_RAFT_BAD_ARGUMENT" }));
    expect([...s.snapshotChunk(3, 2, 2)!]).toEqual([3, 4]);
    expect(s.snapshotChunk(2, 0, 2)).toBeNull();
    s.applySnapshot({ index: 9, term: 4, size: 0 }, new Uint8Array(0));
    expect([s.firstIndex(), s.lastIndex(), s.term(9)]).toEqual([10, 9, 4]);
  });

  it("matches a naive model under random appends and compactions", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(20), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.boolean()), { maxLength: 40 }),
        (ops) => {
          const s = new MemoryStorage();
          let model: number[] = [];
          let term = 1;
          let compacted = 0;
          for (const [at, n, dt, compact] of ops) {
            term += dt - 1;
            const start = Math.max(compacted + 1, Math.min(at + 1, model.length + 1));
            const ents = Array.from({ length: n }, (_, i) => e(start + i, term));
            s.append(ents);
            model = [...model.slice(0, start - 1), ...ents.map((x) => x.term)];
            if (compact && model.length > compacted + 1) {
              const idx = compacted + 1;
              s.createSnapshot(idx, new Uint8Array([idx]));
              s.compact(idx);
              compacted = idx;
            }
            expect(s.lastIndex()).toBe(model.length);
            for (let i = compacted; i <= model.length; i++) expect(s.term(i)).toBe(i === 0 ? 0 : model[i - 1]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
