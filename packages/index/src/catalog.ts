import { readFileSync } from "node:fs";
import { LanceError, crc32c, segmentFileName, writeFileAtomic } from "@lance/segment-format";

/**
 * The per-topic catalog `index.idx` (docs/storage-format.md): every segment of the topic with
 * its offset range, time range, size and state, plus the known offset gaps.
 */
export const CATALOG_MAGIC = 0x54434e4c; // "LNCT" as bytes
export const CATALOG_VERSION = 1;
export const CATALOG_HEADER_SIZE = 48;
export const CATALOG_ENTRY_SIZE = 64;

export interface CatalogSegment {
  kind: "segment";
  state: "active" | "closed";
  hasIndex: boolean;
  baseOffset: number;
  nextOffset: number;
  createdNs: bigint;
  closedNs: bigint | null;
  minTimestampNs: bigint;
  maxTimestampNs: bigint;
  sizeBytes: number;
  batchCount: number;
}

/**
 * Offsets [from, to) that no segment holds.
 * - `missing`: between segments, or at the end, with no known cause.
 * - `quarantined`: a segment covering it was moved to quarantine/.
 * - `in-segment`: inside a segment (a repair with --skip-corrupt removed a damaged batch).
 */
export type GapReason = "missing" | "quarantined" | "in-segment";
export interface CatalogGap {
  kind: "gap";
  reason: GapReason;
  from: number;
  to: number;
}

export type CatalogEntry = CatalogSegment | CatalogGap;

export interface TopicCatalog {
  builtNs: bigint;
  /** First offset the topic still holds (earlier ones were removed by retention). */
  logStartOffset: number;
  /** One past the last offset ever assigned; new appends start here. */
  nextOffset: number;
  /** Segments and gaps, ordered by start offset. */
  entries: CatalogEntry[];
}

const GAP_REASONS: GapReason[] = ["missing", "quarantined", "in-segment"];

export function encodeCatalog(c: TopicCatalog): Uint8Array {
  const buf = Buffer.alloc(CATALOG_HEADER_SIZE + c.entries.length * CATALOG_ENTRY_SIZE);
  const segments = c.entries.filter((e) => e.kind === "segment").length;
  buf.writeUInt32LE(CATALOG_MAGIC, 0);
  buf.writeUInt16LE(CATALOG_VERSION, 4);
  buf.writeUInt16LE(CATALOG_ENTRY_SIZE, 6);
  buf.writeUInt32LE(segments, 8);
  buf.writeUInt32LE(c.entries.length - segments, 12);
  buf.writeBigUInt64LE(c.builtNs, 16);
  buf.writeBigUInt64LE(BigInt(c.logStartOffset), 24);
  buf.writeBigUInt64LE(BigInt(c.nextOffset), 32);
  let at = CATALOG_HEADER_SIZE;
  for (const e of c.entries) {
    if (e.kind === "segment") {
      buf.writeUInt8(1, at);
      buf.writeUInt8(e.state === "closed" ? 1 : 0, at + 1);
      buf.writeUInt16LE(e.hasIndex ? 1 : 0, at + 2);
      buf.writeUInt32LE(e.batchCount, at + 4);
      buf.writeBigUInt64LE(BigInt(e.baseOffset), at + 8);
      buf.writeBigUInt64LE(BigInt(e.nextOffset), at + 16);
      buf.writeBigUInt64LE(e.createdNs, at + 24);
      buf.writeBigUInt64LE(e.closedNs ?? 0n, at + 32);
      buf.writeBigUInt64LE(e.minTimestampNs, at + 40);
      buf.writeBigUInt64LE(e.maxTimestampNs, at + 48);
      buf.writeBigUInt64LE(BigInt(e.sizeBytes), at + 56);
    } else {
      buf.writeUInt8(2, at);
      buf.writeUInt8(GAP_REASONS.indexOf(e.reason) + 1, at + 1);
      buf.writeBigUInt64LE(BigInt(e.from), at + 8);
      buf.writeBigUInt64LE(BigInt(e.to), at + 16);
    }
    at += CATALOG_ENTRY_SIZE;
  }
  buf.writeUInt32LE(catalogCrc(buf), 44);
  return buf;
}

function catalogCrc(buf: Uint8Array): number {
  return crc32c(buf.subarray(0, 44), buf.subarray(CATALOG_HEADER_SIZE));
}

export function decodeCatalog(bytes: Uint8Array, what = "index.idx"): TopicCatalog {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (why: string): never => {
    throw new LanceError("LNC_INDEX_CORRUPT", `${what}: ${why}; rebuild it with lnc rebuild-index`);
  };
  if (buf.byteLength < CATALOG_HEADER_SIZE) corrupt(`${buf.byteLength} bytes is shorter than the ${CATALOG_HEADER_SIZE}-byte header`);
  if (buf.readUInt32LE(0) !== CATALOG_MAGIC) corrupt(`not a topic catalog (magic 0x${buf.readUInt32LE(0).toString(16)})`);
  if (buf.readUInt16LE(4) !== CATALOG_VERSION || buf.readUInt16LE(6) !== CATALOG_ENTRY_SIZE) corrupt(`unsupported catalog version ${buf.readUInt16LE(4)}`);
  const count = buf.readUInt32LE(8) + buf.readUInt32LE(12);
  if (buf.byteLength !== CATALOG_HEADER_SIZE + count * CATALOG_ENTRY_SIZE) corrupt(`size ${buf.byteLength} does not match its ${count} entries`);
  const stored = buf.readUInt32LE(44);
  const actual = catalogCrc(buf);
  if (stored !== actual) corrupt(`checksum mismatch (stored 0x${stored.toString(16).padStart(8, "0")}, computed 0x${actual.toString(16).padStart(8, "0")})`);
  const entries: CatalogEntry[] = [];
  for (let i = 0, at = CATALOG_HEADER_SIZE; i < count; i++, at += CATALOG_ENTRY_SIZE) {
    const kind = buf.readUInt8(at);
    if (kind === 1) {
      const closedNs = buf.readBigUInt64LE(at + 32);
      entries.push({
        kind: "segment",
        state: buf.readUInt8(at + 1) === 1 ? "closed" : "active",
        hasIndex: (buf.readUInt16LE(at + 2) & 1) === 1,
        batchCount: buf.readUInt32LE(at + 4),
        baseOffset: Number(buf.readBigUInt64LE(at + 8)),
        nextOffset: Number(buf.readBigUInt64LE(at + 16)),
        createdNs: buf.readBigUInt64LE(at + 24),
        closedNs: closedNs === 0n ? null : closedNs,
        minTimestampNs: buf.readBigUInt64LE(at + 40),
        maxTimestampNs: buf.readBigUInt64LE(at + 48),
        sizeBytes: Number(buf.readBigUInt64LE(at + 56)),
      });
    } else if (kind === 2) {
      const reason = GAP_REASONS[buf.readUInt8(at + 1) - 1];
      if (!reason) corrupt(`entry ${i} has an unknown gap reason ${buf.readUInt8(at + 1)}`);
      entries.push({ kind: "gap", reason: reason!, from: Number(buf.readBigUInt64LE(at + 8)), to: Number(buf.readBigUInt64LE(at + 16)) });
    } else {
      corrupt(`entry ${i} has an unknown kind ${kind}`);
    }
  }
  return { builtNs: buf.readBigUInt64LE(16), logStartOffset: Number(buf.readBigUInt64LE(24)), nextOffset: Number(buf.readBigUInt64LE(32)), entries };
}

export function readCatalog(path: string): TopicCatalog {
  return decodeCatalog(readFileSync(path), path);
}

export function writeCatalog(path: string, catalog: TopicCatalog): void {
  writeFileAtomic(path, encodeCatalog(catalog));
}

/** Segment file name of a catalog entry. */
export function catalogSegmentFileName(e: CatalogSegment): string {
  return segmentFileName(e.baseOffset, e.createdNs, e.closedNs);
}

/** The catalog entry (segment or gap) holding `offset`, or null outside the log. */
export function locateOffset(catalog: TopicCatalog, offset: number): CatalogEntry | null {
  for (const e of catalog.entries) {
    const [from, to] = e.kind === "segment" ? [e.baseOffset, e.nextOffset] : [e.from, e.to];
    if (offset >= from && offset < to) return e;
  }
  return null;
}
