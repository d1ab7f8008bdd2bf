import { existsSync } from "node:fs";
import { isLanceError, SEGMENT_HEADER_SIZE, type BatchInfo, type SegmentReader } from "@lance/segment-format";
import { SegmentIndex, type IndexEntry } from "./segment-index.js";

export interface IndexWarning {
  code: "LNC_INDEX_MISSING" | "LNC_INDEX_CORRUPT" | "LNC_INDEX_STALE";
  path: string;
  message: string;
}

export type WarningSink = (warning: IndexWarning) => void;

/** Loads `{stem}.idx`; a missing or corrupt index is reported to `warn` and yields null (scan instead). */
export function loadSegmentIndex(indexPath: string, warn: WarningSink = () => {}): SegmentIndex | null {
  if (!existsSync(indexPath)) {
    warn({ code: "LNC_INDEX_MISSING", path: indexPath, message: `${indexPath} is missing; reading by scan (run lnc rebuild-index)` });
    return null;
  }
  try {
    return SegmentIndex.load(indexPath);
  } catch (err) {
    if (!isLanceError(err, "LNC_INDEX_CORRUPT")) throw err;
    warn({ code: "LNC_INDEX_CORRUPT", path: indexPath, message: `${err.message}; reading by scan` });
    return null;
  }
}

/**
 * The batch holding `offset` (or the first one after it, across a gap). The index only says
 * where to start; every hint is checked against the segment, and a hint that disagrees is
 * reported and replaced by a scan from the first batch, so a bad index never yields wrong data.
 */
export async function findBatchByOffset(reader: SegmentReader, index: SegmentIndex | null, offset: number, warn: WarningSink = () => {}): Promise<BatchInfo | null> {
  const hint = usableIndex(reader, index, warn)?.startForOffset(offset) ?? null;
  const from = await checkedStart(reader, hint, warn);
  return reader.findByOffset(offset, from);
}

/** The first batch whose newest record is at or after `timestampNs`, using the index as a hint. */
export async function findBatchByTime(reader: SegmentReader, index: SegmentIndex | null, timestampNs: bigint, warn: WarningSink = () => {}): Promise<BatchInfo | null> {
  const hint = usableIndex(reader, index, warn)?.startForTime(timestampNs) ?? null;
  const from = await checkedStart(reader, hint, warn);
  return reader.findByTime(timestampNs, from);
}

function usableIndex(reader: SegmentReader, index: SegmentIndex | null, warn: WarningSink): SegmentIndex | null {
  if (!index) return null;
  const s = index.summary;
  if (s.baseOffset !== reader.header.baseOffset || s.coveredBytes > reader.size) {
    warn({
      code: "LNC_INDEX_STALE",
      path: reader.path,
      message: `index of ${reader.path} does not match the segment (index base ${s.baseOffset}, covers ${s.coveredBytes} bytes; segment base ${reader.header.baseOffset}, ${reader.size} bytes); reading by scan (run lnc rebuild-index)`,
    });
    return null;
  }
  return index;
}

async function checkedStart(reader: SegmentReader, hint: IndexEntry | null, warn: WarningSink): Promise<number> {
  if (!hint) return SEGMENT_HEADER_SIZE;
  for await (const b of reader.headers(hint.position)) {
    if (b.baseOffset === hint.offset) return hint.position;
    break;
  }
  warn({
    code: "LNC_INDEX_STALE",
    path: reader.path,
    message: `index entry (offset ${hint.offset} at byte ${hint.position}) does not match ${reader.path}; reading by scan (run lnc rebuild-index)`,
  });
  return SEGMENT_HEADER_SIZE;
}
