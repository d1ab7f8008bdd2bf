import { LanceError } from "./errors.js";

/** File names of a topic directory: `{base}_{createdNs}.lnc` (active), `{base}_{createdNs}-{closedNs}.lnc` (closed). */
export const SEGMENT_EXT = ".lnc";
export const SEGMENT_INDEX_EXT = ".idx";
export const TOPIC_CATALOG_FILE = "index.idx";
export const METADATA_FILE = "metadata.json";

export interface SegmentName {
  baseOffset: number;
  createdNs: bigint;
  /** Set once the segment is closed. */
  closedNs: bigint | null;
  /** File name without `.lnc`; the `.idx` beside it is `{stem}.idx`. */
  stem: string;
  fileName: string;
}

const NAME_RE = /^(0|[1-9]\d*)_(0|[1-9]\d*)(?:-(0|[1-9]\d*))?\.lnc$/;

/** Parses a segment file name strictly; returns null for anything that is not one. */
export function parseSegmentName(fileName: string): SegmentName | null {
  const m = NAME_RE.exec(fileName);
  if (!m) return null;
  const base = Number(m[1]);
  if (!Number.isSafeInteger(base)) return null;
  const stem = fileName.slice(0, -SEGMENT_EXT.length);
  return {
    baseOffset: base,
    createdNs: BigInt(m[2]!),
    closedNs: m[3] === undefined ? null : BigInt(m[3]),
    stem,
    fileName,
  };
}

export function segmentFileName(baseOffset: number, createdNs: bigint, closedNs: bigint | null = null): string {
  if (!Number.isSafeInteger(baseOffset) || baseOffset < 0) {
    throw new LanceError("LNC_BAD_ARGUMENT", `segment base offset must be a non-negative integer, got ${baseOffset}`);
  }
  return closedNs === null ? `${baseOffset}_${createdNs}${SEGMENT_EXT}` : `${baseOffset}_${createdNs}-${closedNs}${SEGMENT_EXT}`;
}

export function indexFileNameFor(segmentFileName: string): string {
  return segmentFileName.slice(0, -SEGMENT_EXT.length) + SEGMENT_INDEX_EXT;
}

/** Orders segments by base offset, then creation time; this is the topic's log order. */
export function compareSegmentNames(a: SegmentName, b: SegmentName): number {
  if (a.baseOffset !== b.baseOffset) return a.baseOffset - b.baseOffset;
  if (a.createdNs !== b.createdNs) return a.createdNs < b.createdNs ? -1 : 1;
  return (a.closedNs === null ? 1 : 0) - (b.closedNs === null ? 1 : 0);
}
