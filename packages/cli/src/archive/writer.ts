import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { LanceError, SEGMENT_HEADER_SIZE, fsyncDir, hex32, nowNs } from "@lance/segment-format";
import { Crc32cStream } from "./crc-stream.js";
import { ARCHIVE_FORMAT_NAME, ARCHIVE_HEADER_SIZE, ARCHIVE_VERSION, encodeArchiveHeader, encodeManifest, type ArchiveManifest } from "./format.js";
import type { TopicSnapshot } from "./snapshot.js";

const COPY_CHUNK = 1024 * 1024;
const CRC_PLACEHOLDER = "00000000";

export interface WrittenArchive {
  path: string;
  manifest: ArchiveManifest;
  archiveBytes: number;
}

/**
 * Writes `snapshot` as an archive at `output`: into a temp file beside it, fsynced, then
 * renamed over `output` (and the directory fsynced), so `output` is either absent, the old
 * file, or a complete archive. The manifest goes first with fixed-width CRC placeholders;
 * the parts are streamed from the pinned descriptors while their CRCs are computed, then the
 * manifest is rewritten in place (same length) with the real CRCs and the header after it.
 */
export function writeArchive(
  snapshot: TopicSnapshot,
  source: ArchiveManifest["source"],
  topic: ArchiveManifest["topic"],
  output: string,
  onProgress?: (done: number, total: number) => void,
): WrittenArchive {
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT_NAME,
    version: ARCHIVE_VERSION,
    exported_at_ns: nowNs().toString(),
    source,
    topic,
    log_start_offset: snapshot.logStartOffset,
    end_offset: snapshot.endOffset,
    batches: snapshot.batches,
    records: snapshot.records,
    min_timestamp_ns: snapshot.minTimestampNs?.toString() ?? null,
    max_timestamp_ns: snapshot.maxTimestampNs?.toString() ?? null,
    gaps: snapshot.gaps,
    parts: snapshot.parts.map((p) => ({ ...p.part, crc32c: CRC_PLACEHOLDER })),
  };
  const placeholder = encodeManifest(manifest);
  const tmp = join(dirname(output), `.${basename(output)}.tmp-${process.pid}`);
  const fd = openSync(tmp, "w", 0o640);
  try {
    writeAll(fd, encodeArchiveHeader(placeholder, manifest.parts.length), 0);
    writeAll(fd, placeholder, ARCHIVE_HEADER_SIZE);
    let at = ARCHIVE_HEADER_SIZE + placeholder.byteLength;
    let copied = 0;
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    snapshot.parts.forEach((p, i) => {
      const crc = new Crc32cStream();
      for (let pos = SEGMENT_HEADER_SIZE; pos < p.end; ) {
        const n = readSync(p.fd, buf, 0, Math.min(COPY_CHUNK, p.end - pos), pos);
        if (n === 0) throw new LanceError("LNC_TORN_TAIL", `${join(snapshot.dir, p.part.file)} became shorter during the export (at byte ${pos} of ${p.end})`);
        const chunk = buf.subarray(0, n);
        crc.update(chunk);
        writeAll(fd, chunk, at);
        at += n;
        pos += n;
        copied += n;
        onProgress?.(copied, snapshot.bytes);
      }
      manifest.parts[i]!.crc32c = hex32(crc.value);
    });
    const final = encodeManifest(manifest);
    if (final.byteLength !== placeholder.byteLength) throw new Error("archive manifest changed length while patching CRCs");
    writeAll(fd, final, ARCHIVE_HEADER_SIZE);
    writeAll(fd, encodeArchiveHeader(final, manifest.parts.length), 0);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, output);
    fsyncDir(dirname(output));
    return { path: output, manifest, archiveBytes: at };
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed after fsync: only the rename failed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}
