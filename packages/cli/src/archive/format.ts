import { LanceError, crc32c, hex32, segmentFileName, topicNameProblem, type TopicMetadata } from "@lance/segment-format";

/**
 * Topic archive format v1 (`.lance`, docs/archive-format.md has the byte tables):
 * a 24-byte header, a JSON manifest, then every part's bytes back to back. A part is the
 * record batches of one source segment, byte for byte as stored (batch headers included),
 * so offsets, timestamps, flags and payloads round-trip exactly.
 */
export const ARCHIVE_MAGIC = 0x41434e4c; // "LNCA" as bytes
export const ARCHIVE_VERSION = 1;
export const ARCHIVE_HEADER_SIZE = 24;
export const ARCHIVE_FORMAT_NAME = "lance-topic-archive";
/** A manifest bigger than this is not one we wrote (about 100 bytes per segment). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export type ArchiveGapReason = "missing" | "quarantined" | "in-segment";

export interface ArchiveGap {
  from: number;
  to: number;
  reason: ArchiveGapReason;
}

export interface ArchivePart {
  /** The source segment's file name; import recomputes it from the numbers and refuses a mismatch. */
  file: string;
  base_offset: number;
  /** One past the last record in the part (the base offset when it holds no batch). */
  next_offset: number;
  created_ns: string;
  closed_ns: string | null;
  batches: number;
  records: number;
  min_timestamp_ns: string | null;
  max_timestamp_ns: string | null;
  bytes: number;
  /** CRC-32C of the part's bytes as 8 lowercase hex digits (fixed width: the exporter patches it in place). */
  crc32c: string;
}

export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT_NAME;
  version: typeof ARCHIVE_VERSION;
  exported_at_ns: string;
  source: { kind: "topic" | "divergent"; topic: string };
  /** The source's metadata.json fields; null for a divergent directory without one. */
  topic: Pick<TopicMetadata, "id" | "name" | "created_at" | "topic_epoch" | "auth" | "retention"> | null;
  /** First offset the archive accounts for (data or gap). */
  log_start_offset: number;
  /** One past the last offset the archive accounts for: the stable end fixed when the export started. */
  end_offset: number;
  batches: number;
  records: number;
  min_timestamp_ns: string | null;
  max_timestamp_ns: string | null;
  gaps: ArchiveGap[];
  parts: ArchivePart[];
}

export interface ArchiveHeader {
  version: number;
  manifestLength: number;
  manifestCrc: number;
  partCount: number;
}

export function encodeArchiveHeader(manifestBytes: Uint8Array, partCount: number): Buffer {
  const buf = Buffer.alloc(ARCHIVE_HEADER_SIZE);
  buf.writeUInt32LE(ARCHIVE_MAGIC, 0);
  buf.writeUInt16LE(ARCHIVE_VERSION, 4);
  buf.writeUInt16LE(ARCHIVE_HEADER_SIZE, 6);
  buf.writeUInt32LE(manifestBytes.byteLength, 8);
  buf.writeUInt32LE(crc32c(manifestBytes), 12);
  buf.writeUInt32LE(partCount, 16);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 20)), 20);
  return buf;
}

/** Checks magic, header CRC, version and sizes; `available` is the archive size when known. */
export function decodeArchiveHeader(buf: Uint8Array, what: string): ArchiveHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.byteLength < 4 || b.readUInt32LE(0) !== ARCHIVE_MAGIC) {
    throw new LanceError("LNC_ARCHIVE_FOREIGN", `${what} is not a LANCE topic archive (no "LNCA" magic at byte 0)`);
  }
  if (b.byteLength < ARCHIVE_HEADER_SIZE) {
    throw new LanceError("LNC_ARCHIVE_CORRUPT", `${what} is truncated: ${b.byteLength} bytes, the archive header alone is ${ARCHIVE_HEADER_SIZE}`);
  }
  const stored = b.readUInt32LE(20);
  const actual = crc32c(b.subarray(0, 20));
  if (stored !== actual) {
    throw new LanceError("LNC_ARCHIVE_CORRUPT", `${what}: archive header checksum mismatch (stored 0x${hex32(stored)}, computed 0x${hex32(actual)})`);
  }
  const version = b.readUInt16LE(4);
  if (version !== ARCHIVE_VERSION || b.readUInt16LE(6) !== ARCHIVE_HEADER_SIZE) {
    throw new LanceError("LNC_ARCHIVE_VERSION", `${what}: archive format version ${version} is not supported (this lnc reads version ${ARCHIVE_VERSION})`);
  }
  const manifestLength = b.readUInt32LE(8);
  if (manifestLength === 0 || manifestLength > MAX_MANIFEST_BYTES) {
    throw new LanceError("LNC_ARCHIVE_CORRUPT", `${what}: manifest length ${manifestLength} is outside 1..${MAX_MANIFEST_BYTES}`);
  }
  return { version, manifestLength, manifestCrc: b.readUInt32LE(12), partCount: b.readUInt32LE(16) };
}

export function encodeManifest(m: ArchiveManifest): Buffer {
  return Buffer.from(JSON.stringify(m), "utf8");
}

/** Checks the manifest's CRC, parses it and validates every field; nothing in it is trusted before this. */
export function decodeManifest(bytes: Uint8Array, header: ArchiveHeader, what: string): ArchiveManifest {
  const actual = crc32c(bytes);
  if (actual !== header.manifestCrc) {
    throw new LanceError("LNC_ARCHIVE_CORRUPT", `${what}: manifest checksum mismatch (stored 0x${hex32(header.manifestCrc)}, computed 0x${hex32(actual)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (err) {
    throw new LanceError("LNC_ARCHIVE_INVALID", `${what}: manifest is not JSON (${(err as Error).message})`);
  }
  const m = validateManifest(raw, what);
  if (m.parts.length !== header.partCount) {
    throw new LanceError("LNC_ARCHIVE_INVALID", `${what}: header says ${header.partCount} parts, the manifest lists ${m.parts.length}`);
  }
  return m;
}

type Obj = Record<string, unknown>;

function validateManifest(raw: unknown, what: string): ArchiveManifest {
  const bad = (why: string): never => {
    throw new LanceError("LNC_ARCHIVE_INVALID", `${what}: manifest refused: ${why}`);
  };
  const obj = (v: unknown, name: string): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : bad(`${name} must be an object`));
  const offset = (v: unknown, name: string): number => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : bad(`${name} must be an offset (integer 0..2^53-1)`));
  const count = (v: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number =>
    Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max ? (v as number) : bad(`${name} must be an integer 0..${max}`);
  const ns = (v: unknown, name: string): string => (typeof v === "string" && /^(0|[1-9]\d{0,19})$/.test(v) && BigInt(v) < 2n ** 64n ? v : bad(`${name} must be a u64 decimal string`));
  const nsOrNull = (v: unknown, name: string): string | null => (v === null ? null : ns(v, name));

  const o = obj(raw, "the manifest");
  if (o.format !== ARCHIVE_FORMAT_NAME || o.version !== ARCHIVE_VERSION) bad(`format ${JSON.stringify(o.format)} version ${JSON.stringify(o.version)} is not ${ARCHIVE_FORMAT_NAME} v${ARCHIVE_VERSION}`);
  const source = obj(o.source, "source");
  if (source.kind !== "topic" && source.kind !== "divergent") bad(`source.kind must be "topic" or "divergent"`);
  if (typeof source.topic !== "string") bad("source.topic must be a string");
  const nameProblem = topicNameProblem(source.topic as string);
  if (nameProblem) bad(`source topic: ${nameProblem}`);

  const parts: ArchivePart[] = (Array.isArray(o.parts) ? o.parts : bad("parts must be an array")).map((p: unknown, i: number) => {
    const q = obj(p, `parts[${i}]`);
    const part: ArchivePart = {
      file: typeof q.file === "string" ? q.file : bad(`parts[${i}].file must be a string`),
      base_offset: offset(q.base_offset, `parts[${i}].base_offset`),
      next_offset: offset(q.next_offset, `parts[${i}].next_offset`),
      created_ns: ns(q.created_ns, `parts[${i}].created_ns`),
      closed_ns: nsOrNull(q.closed_ns, `parts[${i}].closed_ns`),
      batches: count(q.batches, `parts[${i}].batches`),
      records: count(q.records, `parts[${i}].records`),
      min_timestamp_ns: nsOrNull(q.min_timestamp_ns, `parts[${i}].min_timestamp_ns`),
      max_timestamp_ns: nsOrNull(q.max_timestamp_ns, `parts[${i}].max_timestamp_ns`),
      bytes: count(q.bytes, `parts[${i}].bytes`),
      crc32c: typeof q.crc32c === "string" && /^[0-9a-f]{8}$/.test(q.crc32c) ? q.crc32c : bad(`parts[${i}].crc32c must be 8 lowercase hex digits`),
    };
    // The file name is never used as a path: it must be exactly the name the numbers give.
    const expected = segmentFileName(part.base_offset, BigInt(part.created_ns), part.closed_ns === null ? null : BigInt(part.closed_ns));
    if (part.file !== expected) bad(`parts[${i}].file ${JSON.stringify(part.file)} is not the segment name ${expected} its offsets and times give`);
    if (part.next_offset < part.base_offset) bad(`parts[${i}] ends (${part.next_offset}) before it starts (${part.base_offset})`);
    if ((part.batches === 0) !== (part.bytes === 0) || part.records < part.batches) bad(`parts[${i}] has inconsistent batch, record and byte counts`);
    return part;
  });
  parts.forEach((p, i) => {
    const prev = parts[i - 1];
    if (parts.findIndex((q) => q.file === p.file) !== i) bad(`parts[${i}].file ${p.file} appears twice`);
    if (prev && p.base_offset < prev.next_offset) bad(`parts[${i}] starts at ${p.base_offset}, inside parts[${i - 1}] (which ends at ${prev.next_offset})`);
  });

  const gaps: ArchiveGap[] = (Array.isArray(o.gaps) ? o.gaps : bad("gaps must be an array")).map((g: unknown, i: number) => {
    const q = obj(g, `gaps[${i}]`);
    const reason = q.reason;
    if (reason !== "missing" && reason !== "quarantined" && reason !== "in-segment") bad(`gaps[${i}].reason must be missing, quarantined or in-segment`);
    const gap = { from: offset(q.from, `gaps[${i}].from`), to: offset(q.to, `gaps[${i}].to`), reason: reason as ArchiveGapReason };
    if (gap.to <= gap.from) bad(`gaps[${i}] is empty or reversed`);
    return gap;
  });

  const m: ArchiveManifest = {
    format: ARCHIVE_FORMAT_NAME,
    version: ARCHIVE_VERSION,
    exported_at_ns: ns(o.exported_at_ns, "exported_at_ns"),
    source: { kind: source.kind as "topic" | "divergent", topic: source.topic as string },
    topic: o.topic === null ? null : validateTopic(obj(o.topic, "topic"), bad),
    log_start_offset: offset(o.log_start_offset, "log_start_offset"),
    end_offset: offset(o.end_offset, "end_offset"),
    batches: count(o.batches, "batches"),
    records: count(o.records, "records"),
    min_timestamp_ns: nsOrNull(o.min_timestamp_ns, "min_timestamp_ns"),
    max_timestamp_ns: nsOrNull(o.max_timestamp_ns, "max_timestamp_ns"),
    gaps,
    parts,
  };
  const first = parts[0];
  const last = parts.at(-1);
  if (m.end_offset < m.log_start_offset) bad(`end_offset ${m.end_offset} is before log_start_offset ${m.log_start_offset}`);
  if (first && first.base_offset < m.log_start_offset) bad(`the first part starts before log_start_offset`);
  if (last && last.next_offset > m.end_offset) bad(`the last part ends after end_offset`);
  if (gaps.some((g) => g.from < m.log_start_offset || g.to > m.end_offset)) bad("a gap lies outside log_start_offset..end_offset");
  if (parts.reduce((n, p) => n + p.batches, 0) !== m.batches || parts.reduce((n, p) => n + p.records, 0) !== m.records) bad("batch or record totals do not match the parts");
  return m;
}

function validateTopic(t: Obj, bad: (why: string) => never): NonNullable<ArchiveManifest["topic"]> {
  const intOrNull = (v: unknown, name: string): number | null => (v === null ? null : Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : bad(`${name} must be a non-negative integer or null`));
  if (typeof t.name !== "string") bad("topic.name must be a string");
  const problem = topicNameProblem(t.name as string);
  if (problem) bad(`topic.name: ${problem}`);
  if (!Number.isSafeInteger(t.id) || (t.id as number) < 0) bad("topic.id must be a non-negative integer");
  if (!Number.isSafeInteger(t.created_at)) bad("topic.created_at must be an integer (seconds)");
  if (!Number.isSafeInteger(t.topic_epoch)) bad("topic.topic_epoch must be an integer");
  let retention: TopicMetadata["retention"] = null;
  if (t.retention !== null && t.retention !== undefined) {
    if (typeof t.retention !== "object" || Array.isArray(t.retention)) bad("topic.retention must be an object or null");
    const r = t.retention as Obj;
    retention = { max_bytes: intOrNull(r.max_bytes ?? null, "topic.retention.max_bytes"), max_age_secs: intOrNull(r.max_age_secs ?? null, "topic.retention.max_age_secs") };
  }
  let auth: TopicMetadata["auth"] = null;
  if (t.auth !== null && t.auth !== undefined) {
    if (typeof t.auth !== "object" || Array.isArray(t.auth)) bad("topic.auth must be an object or null");
    const a = t.auth as Obj;
    const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");
    const ints = (v: unknown) => Array.isArray(v) && v.every((n) => Number.isSafeInteger(n));
    if (typeof a.mtls_enabled !== "boolean" || !(a.client_ca_path === null || typeof a.client_ca_path === "string") || !strings(a.allowed_cns) || !ints(a.allowed_topics ?? [])) {
      bad("topic.auth does not have the metadata.json auth shape");
    }
    auth = { mtls_enabled: a.mtls_enabled as boolean, client_ca_path: a.client_ca_path as string | null, allowed_cns: a.allowed_cns as string[], allowed_topics: (a.allowed_topics ?? []) as number[] };
  }
  return { id: t.id as number, name: t.name as string, created_at: t.created_at as number, topic_epoch: t.topic_epoch as number, auth, retention };
}
