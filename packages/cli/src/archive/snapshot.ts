import { closeSync, fstatSync, openSync } from "node:fs";
import { join } from "node:path";
import { catalogPath, readCatalog, type TopicCatalog } from "@lance/index";
import { FileSource, LanceError, SEGMENT_HEADER_SIZE, listTopicSegments, scanSource, type SegmentName } from "@lance/segment-format";
import type { ArchiveGap, ArchivePart } from "./format.js";

/**
 * A topic directory pinned for export. Every segment is opened once and its size taken at
 * that moment; everything after reads through those descriptors. Batches below a segment's
 * pinned size never change (segments are append-only), and an open descriptor keeps its
 * bytes readable even if the server renames the segment on rotation or retention deletes it,
 * so the export is consistent while the server keeps writing.
 */
export interface PinnedPart {
  part: Omit<ArchivePart, "crc32c">;
  fd: number;
  /** Byte range of the part's batches in the segment file: [SEGMENT_HEADER_SIZE, end). */
  end: number;
}

export interface TopicSnapshot {
  dir: string;
  parts: PinnedPart[];
  gaps: ArchiveGap[];
  logStartOffset: number;
  endOffset: number;
  batches: number;
  records: number;
  minTimestampNs: bigint | null;
  maxTimestampNs: bigint | null;
  /** Bytes of batch data to copy. */
  bytes: number;
  /** Notes for the operator (an in-flight append left out, say). */
  notes: string[];
  close(): void;
}


const PIN_ATTEMPTS = 10;

/**
 * Opens every segment of `dir` and validates the pinned bytes (every batch CRC). A torn tail
 * of the newest segment is an append in flight and is left out; any other damage refuses
 * the export with the repair to run. `onProgress` gets bytes scanned so far and the total.
 */
export function pinTopic(dir: string, onProgress?: (done: number, total: number) => void): TopicSnapshot {
  const pinned = pinSegments(dir);
  try {
    return scanPinned(dir, pinned, readCatalogIfAny(dir), onProgress);
  } catch (err) {
    for (const p of pinned) closeSync(p.fd);
    throw err;
  }
}

interface PinnedFile {
  name: SegmentName;
  fd: number;
  size: number;
}

/** Lists and opens the segments; a file renamed or deleted in between makes it list again. */
function pinSegments(dir: string): PinnedFile[] {
  for (let attempt = 1; ; attempt++) {
    const opened: PinnedFile[] = [];
    try {
      for (const name of listTopicSegments(dir).segments) {
        const fd = openSync(join(dir, name.fileName), "r");
        opened.push({ name, fd, size: fstatSync(fd).size });
      }
      return opened;
    } catch (err) {
      for (const p of opened) closeSync(p.fd);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt === PIN_ATTEMPTS) throw err;
    }
  }
}

function readCatalogIfAny(dir: string): TopicCatalog | null {
  try {
    return readCatalog(catalogPath(dir));
  } catch {
    // Missing or unreadable: gaps are then derived from the segments alone.
    return null;
  }
}

function scanPinned(dir: string, files: PinnedFile[], catalog: TopicCatalog | null, onProgress?: (done: number, total: number) => void): TopicSnapshot {
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  const notes: string[] = [];
  const parts: PinnedPart[] = [];
  const inSegmentGaps: ArchiveGap[] = [];
  let minTs: bigint | null = null;
  let maxTs: bigint | null = null;
  files.forEach((f, i) => {
    const path = join(dir, f.name.fileName);
    if (i === files.length - 1 && f.name.closedNs === null && f.size < SEGMENT_HEADER_SIZE) {
      // A segment being created right now (its header not written yet) holds no batch.
      notes.push(`${f.name.fileName}: created while the export started and still empty; not included`);
      return;
    }
    const scan = scanSource(new FileSource({ fd: f.fd, size: f.size }), { baseOffset: f.name.baseOffset, onProgress: (pos) => onProgress?.(done + pos, total) });
    done += f.size;
    const isNewest = i === files.length - 1;
    if (!scan.ok) {
      const p = scan.problems[0]!;
      const inFlight = isNewest && f.name.closedNs === null && scan.damageAtTailOnly && (p.kind === "torn_tail" || p.kind === "trailing_garbage");
      if (!inFlight) {
        throw new LanceError(p.code, `cannot export ${path}: damaged at byte ${p.position} (${p.kind}: ${p.message}); run lnc verify-data and lnc repair --path ${path} first`);
      }
      notes.push(`${f.name.fileName}: ${f.size - scan.validPrefixBytes} bytes after byte ${scan.validPrefixBytes} are an append in progress; exported up to the last complete batch`);
    }
    if (scan.header && scan.header.baseOffset !== f.name.baseOffset) {
      throw new LanceError("LNC_BAD_FILE_NAME", `cannot export ${path}: its header says base offset ${scan.header.baseOffset}, its name ${f.name.baseOffset}`);
    }
    if (scan.minTimestampNs !== null && (minTs === null || scan.minTimestampNs < minTs)) minTs = scan.minTimestampNs;
    if (scan.maxTimestampNs !== null && (maxTs === null || scan.maxTimestampNs > maxTs)) maxTs = scan.maxTimestampNs;
    for (const g of scan.gaps) inSegmentGaps.push({ from: g.from, to: g.to, reason: "in-segment" });
    parts.push({
      fd: f.fd,
      end: scan.validPrefixBytes,
      part: {
        file: f.name.fileName,
        base_offset: f.name.baseOffset,
        next_offset: scan.prefixNextOffset ?? f.name.baseOffset,
        created_ns: f.name.createdNs.toString(),
        closed_ns: f.name.closedNs === null ? null : f.name.closedNs.toString(),
        batches: scan.prefixBatchCount,
        records: scan.prefixRecordCount,
        min_timestamp_ns: scan.minTimestampNs?.toString() ?? null,
        max_timestamp_ns: scan.maxTimestampNs?.toString() ?? null,
        bytes: scan.validPrefixBytes - SEGMENT_HEADER_SIZE,
      },
    });
  });
  for (let i = 1; i < parts.length; i++) {
    const prev = parts[i - 1]!.part;
    if (parts[i]!.part.base_offset < prev.next_offset) {
      throw new LanceError("LNC_OFFSET_REGRESSION", `cannot export ${dir}: segment ${parts[i]!.part.file} starts inside ${prev.file}; run lnc verify-data`);
    }
  }
  const extent = extentOf(parts, catalog, inSegmentGaps);
  return {
    dir,
    parts,
    ...extent,
    batches: parts.reduce((n, p) => n + p.part.batches, 0),
    records: parts.reduce((n, p) => n + p.part.records, 0),
    minTimestampNs: minTs,
    maxTimestampNs: maxTs,
    bytes: parts.reduce((n, p) => n + p.part.bytes, 0),
    notes,
    close: () => files.forEach((f) => closeSync(f.fd)),
  };
}

/**
 * The offset range and gaps the archive accounts for: gaps between and inside segments, plus
 * the catalog's gaps before the first segment (a quarantined oldest segment) and after the
 * last (a quarantined newest one, whose offsets are never reused).
 */
function extentOf(parts: PinnedPart[], catalog: TopicCatalog | null, inSegment: ArchiveGap[]): { gaps: ArchiveGap[]; logStartOffset: number; endOffset: number } {
  const catalogGaps = (catalog?.entries ?? []).flatMap((e) => (e.kind === "gap" ? [{ from: e.from, to: e.to, reason: e.reason }] : []));
  const reasonFor = (from: number, to: number) => catalogGaps.find((g) => g.from < to && g.to > from)?.reason ?? "missing";
  if (parts.length === 0) {
    const end = catalog?.nextOffset ?? 0;
    return { gaps: [], logStartOffset: end, endOffset: end };
  }
  const dataEnd = parts.at(-1)!.part.next_offset;
  const gaps: ArchiveGap[] = [...inSegment];
  for (let i = 1; i < parts.length; i++) {
    const from = parts[i - 1]!.part.next_offset;
    const to = parts[i]!.part.base_offset;
    if (to > from) gaps.push({ from, to, reason: reasonFor(from, to) });
  }
  const before = catalogGaps.filter((g) => g.to <= parts[0]!.part.base_offset);
  const after = catalogGaps.filter((g) => g.from >= dataEnd);
  gaps.push(...before, ...after);
  gaps.sort((a, b) => a.from - b.from);
  return {
    gaps,
    logStartOffset: Math.min(parts[0]!.part.base_offset, ...before.map((g) => g.from)),
    endOffset: Math.max(dataEnd, ...after.map((g) => g.to)),
  };
}
