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
  /** Where the batches after recently returned ones start: sequential readers resume in O(1). */
  resume: Map<number, number>;
}

const RESUME_HINTS = 256;

export interface TopicReaderOptions {
  warn?: WarningSink;
  /**
   * The in-memory index of a segment still being written (its `.idx` on disk trails it):
   * the server passes TopicWriter.liveIndex so lookups in the active segment stay fast.
   */
  liveIndex?: (segmentFileName: string) => SegmentIndex | null;
  /**
   * A number that changes when the topic's segment files change (TopicWriter.segmentsVersion):
   * the reader re-lists the directory only then, instead of the caller calling refresh().
   */
  segmentsVersion?: () => number;
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

  private readonly liveIndex: TopicReaderOptions["liveIndex"];
  private readonly segmentsVersion: TopicReaderOptions["segmentsVersion"];
  private listedVersion: number | null = null;

  constructor(dir: string, options: TopicReaderOptions = {}) {
    this.dir = dir;
    this.warn = options.warn ?? (() => {});
    this.liveIndex = options.liveIndex;
    this.segmentsVersion = options.segmentsVersion;
    this.refresh();
  }

  private refreshIfChanged(): void {
    if (this.segmentsVersion && this.segmentsVersion() !== this.listedVersion) this.refresh();
  }

  /** Re-lists the directory: call after segments are added, closed or removed. */
  refresh(): void {
    this.listedVersion = this.segmentsVersion?.() ?? null;
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
    this.refreshIfChanged();
    const batches: Batch[] = [];
    let skipped: ReadResult["skipped"] = null;
    let budget = maxBytes;
    let want = offset;
    for (let i = this.segmentFor(offset); i < this.segments.length; i++) {
      const seg = await this.openSegment(this.segments[i]!);
      // Closed segments never change size; only the active one grows.
      if (seg.name.closedNs === null) await seg.reader.refresh();
      const first = batches.length === 0 ? await this.locate(seg, want) : await firstBatch(seg.reader);
      if (!first) continue;
      // A gap ends the read, so the next read starts at it and reports what it skipped.
      if (batches.length > 0 && first.baseOffset > want) break;
      if (batches.length === 0 && first.baseOffset > offset) skipped = { from: offset, to: first.baseOffset };
      // readBatches returns at least one batch: the first of the whole read goes through even
      // when it is bigger than the budget; a later segment's first batch must fit.
      const got = await seg.reader.readBatches(first.position, budget);
      if (batches.length > 0 && got.length > 0 && got[0]!.payloadLength > budget) break;
      for (const b of got) {
        batches.push(b);
        budget -= b.payloadLength;
        want = b.nextOffset;
      }
      // readBatches stopped before the segment's end: budget spent or a gap inside the segment
      // (left by repair --skip-corrupt), which the next read reports.
      const last = got[got.length - 1];
      if (last) remember(seg, last.nextOffset, last.position + last.size);
      if (!last || last.position + last.size < seg.reader.size || budget <= 0) break;
    }
    return { batches, nextOffset: batches.length ? want : offset, skipped };
  }

  /** The offset of the first batch whose newest record is at or after `timestampNs`; null if none. */
  async offsetForTime(timestampNs: bigint): Promise<number | null> {
    this.refreshIfChanged();
    for (const name of this.segments) {
      const seg = await this.openSegment(name);
      // Closed segments never change size; only the active one grows.
      if (seg.name.closedNs === null) await seg.reader.refresh();
      const b = await findBatchByTime(seg.reader, this.indexOf(seg), timestampNs, this.warn);
      if (b) return b.baseOffset;
    }
    return null;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((s) => s.reader.close()));
    this.open.clear();
  }

  /** The batch holding `offset` or the first after it: from a resume hint, else the index. */
  private async locate(seg: OpenSegment, offset: number): Promise<BatchInfo | null> {
    const at = seg.resume.get(offset);
    if (at !== undefined) {
      for await (const b of seg.reader.headers(at)) if (b.baseOffset === offset) return b;
    }
    return findBatchByOffset(seg.reader, this.indexOf(seg), offset, this.warn);
  }

  private indexOf(seg: OpenSegment): SegmentIndex | null {
    return this.liveIndex?.(seg.name.fileName) ?? seg.index;
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
      // The active segment's .idx trails it by design; its live index comes from the writer.
      const live = this.liveIndex?.(name.fileName) ?? null;
      seg = { name, reader, index: live ? null : loadSegmentIndex(segmentIndexPath(this.dir, name.stem), this.warn), resume: new Map() };
      this.open.set(name.fileName, seg);
    }
    return seg;
  }
}

async function firstBatch(reader: SegmentReader): Promise<BatchInfo | null> {
  for await (const b of reader.headers()) return b;
  return null;
}

function remember(seg: OpenSegment, nextOffset: number, position: number): void {
  if (seg.resume.size >= RESUME_HINTS) seg.resume.delete(seg.resume.keys().next().value!);
  seg.resume.set(nextOffset, position);
}
