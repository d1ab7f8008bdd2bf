import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decodeFileHeader, encodeFileHeader, encodeFrame, frameSize, parseFrameAt, FRAME_HEADER_SIZE } from "./format.js";

const DOC = fileURLToPath(new URL("../../../docs/wal-format.md", import.meta.url));

/** The bytes of a "```hex <label>" block of docs/wal-format.md. */
function hexBlock(label: string): Buffer {
  const doc = readFileSync(DOC, "utf8");
  const m = new RegExp("```hex " + label + "\\n([\\s\\S]*?)```").exec(doc);
  if (!m) throw new Error(`no hex block ${label} in ${DOC}`);
  const hex = m[1]!
    .split("\n")
    .map((l) => l.replace(/^[0-9a-f]{4}:/, ""))
    .join("")
    .replace(/\s+/g, "");
  return Buffer.from(hex, "hex");
}

describe("format", () => {
  it("matches the worked example in docs/wal-format.md byte for byte", () => {
    expect(encodeFileHeader({ segmentSize: 65536, firstIndex: 1, epoch: 1 }).equals(hexBlock("file-header"))).toBe(true);
    expect(encodeFrame({ type: 1, epoch: 1, index: 1, term: 1, payload: Buffer.from("hello") }).equals(hexBlock("frame"))).toBe(true);
  });

  it("round-trips frames and headers, and every single bit flip in a frame is caught", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 0xef }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (payload, type, epoch, index, term, flip) => {
          const frame = encodeFrame({ type, epoch, index, term, payload });
          expect(frame.byteLength).toBe(frameSize(payload.byteLength));
          expect(frame.byteLength % 8).toBe(0);
          const p = parseFrameAt(frame, 0);
          expect(p).toEqual({ kind: "frame", frame: { type, epoch, index, term, payloadOffset: FRAME_HEADER_SIZE, payloadLength: payload.byteLength, size: frame.byteLength } });
          const bit = flip % (frame.byteLength * 8);
          frame[bit >> 3] = frame[bit >> 3]! ^ (1 << (bit & 7));
          expect(parseFrameAt(frame, 0).kind).toBe("bad");
        },
      ),
    );
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), fc.nat({ max: 48 * 8 - 1 }), (segmentSize, firstIndex, epoch, bit) => {
        const h = encodeFileHeader({ segmentSize, firstIndex, epoch });
        expect(decodeFileHeader(h)).toEqual({ ok: true, header: { segmentSize, firstIndex, epoch } });
        h[bit >> 3] = h[bit >> 3]! ^ (1 << (bit & 7));
        expect(decodeFileHeader(h).ok).toBe(false);
      }),
    );
  });

  it("tells zeros, slack and garbage apart", () => {
    expect(parseFrameAt(Buffer.alloc(64), 0).kind).toBe("zero");
    expect(parseFrameAt(Buffer.alloc(64), 32).kind).toBe("slack");
    expect(parseFrameAt(Buffer.alloc(64, 1), 0)).toEqual({ kind: "bad", reason: "no frame magic" });
    const f = encodeFrame({ type: 0, epoch: 1, index: 1, term: 1, payload: Buffer.alloc(100) });
    expect(parseFrameAt(f.subarray(0, 80), 0)).toMatchObject({ kind: "bad", reason: expect.stringContaining("past the end") });
  });
});
