import { join } from "node:path";
import { SegmentReader, listTopicSegments, type Batch, type BatchInfo, type SegmentName } from "@lance/segment-format";
import { findBatchByOffset, findBatchByTime, loadSegmentIndex, type WarningSink } from "./lookup.js";
import type { SegmentIndex } from "./segment-index.js";
import { segmentIndexPath } from "./topic-paths.js";

export interface ReadResult {
  /** Whole batches in offset order; their payloads are the producers' bytes. */
  batches: Batch[];
  /** One past the last record returned (the requested offset when nothing was returned). */
  nextOffset: number;
  /** Offsets between the request and the first batch returned that no segment holds. */
  skipped: { from: number; to: number } | null;
}

interface OpenSegment {
  name: SegmentName;
  reader: SegmentReader;
  index: SegmentIndex | null;
}

/**
 * Reads a topic directory by record offset or timestamp, across segments and gaps. Uses each
 * segment's `.idx` as a checked hint (see lookup.ts); returns whole, CRC-checked batches.
 */
export class TopicReader {
  readonly dir: string;
  private readonly warn: WarningSink;
  private segments: SegmentName[] = [];
  private readonly open = new Map<string, OpenSegment>();

  constructor(dir: string, options: { warn?: WarningSink } = {}) {
    this.dir = dir;
    this.warn = options.warn ?? (() => {});
    this.refresh();
  }

  /** Re-lists the directory: call after segments are added, closed or removed. */
  refresh(): void {
    this.segments = listTopicSegments(this.dir).segments;
    const live = new Set(this.segments.map((s) => s.fileName));
    for (const [file, seg] of this.open) {
      if (!live.has(file)) {
        this.open.delete(file);
        void seg.reader.close();
      }
    }
  }

  /**
   * Whole batches starting with the one that holds `offset` (or the first one after it), at
   * least one batch when any exists, and no more than `maxBytes` of payload beyond the first.
   */
  async read(offset: number, maxBytes: number): Promise<ReadResult> {
    const batches: Batch[] = [];
    let skipped: ReadResult["skipped"] = null;
    let budget = maxBytes;
    let want = offset;
    for (let i = this.segmentFor(offset); i < this.segments.length; i++) {
      const seg = await this.openSegment(this.segments[i]!);
      await seg.reader.refresh();
      const first = batches.length === 0 ? await findBatchByOffset(seg.reader, seg.index, want, this.warn) : await firstBatch(seg.reader);
      if (!first) continue;
      // A gap ends the read, so the next read starts at it and reports what it skipped.
      if (batches.length > 0 && first.baseOffset > want) break;
      if (batches.length === 0 && first.baseOffset > offset) skipped = { from: offset, to: first.baseOffset };
      for await (const info of seg.reader.headers(first.position)) {
        if (batches.length > 0 && info.payloadLength > budget) return { batches, nextOffset: want, skipped };
        // A gap inside the segment (left by repair --skip-corrupt) also ends the read.
        if (batches.length > 0 && info.baseOffset > want) return { batches, nextOffset: want, skipped };
        batches.push(await seg.reader.readBatchAt(info.position));
        budget -= info.payloadLength;
        want = info.nextOffset;
      }
    }
    return { batches, nextOffset: batches.length ? want : offset, skipped };
  }

  /** The offset of the first batch whose newest record is at or after `timestampNs`; null if none. */
  async offsetForTime(timestampNs: bigint): Promise<number | null> {
    for (const name of this.segments) {
      const seg = await this.openSegment(name);
      await seg.reader.refresh();
      const b = await findBatchByTime(seg.reader, seg.index, timestampNs, this.warn);
      if (b) return b.baseOffset;
    }
    return null;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((s) => s.reader.close()));
    this.open.clear();
  }

  /** Index of the last segment whose base offset is at or before `offset` (0 if none). */
  private segmentFor(offset: number): number {
    let found = 0;
    this.segments.forEach((s, i) => {
      if (s.baseOffset <= offset) found = i;
    });
    return found;
  }

  private async openSegment(name: SegmentName): Promise<OpenSegment> {
    let seg = this.open.get(name.fileName);
    if (!seg) {
      const reader = await SegmentReader.open(join(this.dir, name.fileName));
      seg = { name, reader, index: loadSegmentIndex(segmentIndexPath(this.dir, name.stem), this.warn) };
      this.open.set(name.fileName, seg);
    }
    return seg;
  }
}

async function firstBatch(reader: SegmentReader): Promise<BatchInfo | null> {
  for await (const b of reader.headers()) return b;
  return null;
}
