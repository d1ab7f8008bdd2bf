import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { catalogPath } from "@lance/index";
import { LanceError, METADATA_FILE, SEGMENT_EXT, TOPIC_CATALOG_FILE, crc32c, fsyncDir, listTopicSegments, scanSegmentFile, segmentsDir, topicNameProblem, writeFileAtomic } from "@lance/segment-format";
import type { SnapshotMeta } from "@lance/raft";

/**
 * A Raft snapshot of the state machine: every topic's segment files (plus its metadata.json and
 * catalog) and the committed consumer offsets, as of one applied index. Byte stream:
 *
 *   0  "LNCSNAP1"        8 bytes
 *   8  manifest length  u32 BE
 *   12 manifest CRC-32C u32 BE
 *   16 manifest         JSON: { version, index, term, files: [{ path, size }] }
 *   .. file bytes       the files back to back, in manifest order
 *
 * Segments are append-only and retention only deletes whole files, so a capture is cheap: the
 * files are opened (a later rename or delete does not affect an open descriptor) and their
 * length noted; small mutable files (metadata, catalog, offsets) are read into memory at once.
 * Integrity on the receiving side: the manifest has its CRC, each chunk crosses the network in
 * a CRC-checked frame, and every segment batch carries its own CRC, verified by opening each
 * topic before the snapshot replaces anything.
 */
const MAGIC = Buffer.from("LNCSNAP1", "ascii");
const HEADER = 16;
const VERSION = 1;
/** Under `{data}`: the staged stream, and where it is unpacked before it replaces `segments/`. */
export const SNAPSHOT_STAGING_FILE = "snapshot.staging";
export const SNAPSHOT_INSTALL_DIR = "snapshot-install";
const COMPLETE_MARKER = "COMPLETE";

interface ManifestFile {
  path: string;
  size: number;
}

interface Manifest {
  version: number;
  index: number;
  term: number;
  files: ManifestFile[];
}

type Part = { kind: "bytes"; data: Uint8Array } | { kind: "fd"; fd: number; size: number };

export interface CapturedSnapshot {
  meta: SnapshotMeta;
  read(offset: number, maxBytes: number): Uint8Array;
  close(): void;
}

export interface TopicFiles {
  /** Topic directory (under `{data}/segments/`). */
  dir: string;
  /** Directory name = topic name. */
  name: string;
}

/**
 * Captures the applied state at (`index`, `term`). The caller has flushed every topic writer so
 * that the files hold exactly what was applied.
 */
export function captureSnapshot(index: number, term: number, topics: TopicFiles[], consumerOffsetsPath: string): CapturedSnapshot {
  const files: ManifestFile[] = [];
  const parts: Part[] = [];
  const fds: number[] = [];
  const addBytes = (path: string, data: Uint8Array) => {
    files.push({ path, size: data.byteLength });
    parts.push({ kind: "bytes", data });
  };
  try {
    for (const t of topics) {
      addBytes(`segments/${t.name}/${METADATA_FILE}`, readFileSync(join(t.dir, METADATA_FILE)));
      if (existsSync(catalogPath(t.dir))) addBytes(`segments/${t.name}/${TOPIC_CATALOG_FILE}`, readFileSync(catalogPath(t.dir)));
      for (const seg of listTopicSegments(t.dir).segments) {
        const fd = openSync(join(t.dir, seg.fileName), "r");
        fds.push(fd);
        const size = fstatSync(fd).size;
        files.push({ path: `segments/${t.name}/${seg.fileName}`, size });
        parts.push({ kind: "fd", fd, size });
      }
    }
    // Always present, so that installing it can replace the receiver's file by a plain rename.
    addBytes("consumer-offsets.json", existsSync(consumerOffsetsPath) ? readFileSync(consumerOffsetsPath) : Buffer.from("{}"));
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  }
  const manifest = Buffer.from(JSON.stringify({ version: VERSION, index, term, files } satisfies Manifest), "utf8");
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(manifest.byteLength, 8);
  header.writeUInt32BE(crc32c(manifest), 12);
  const all: Part[] = [{ kind: "bytes", data: header }, { kind: "bytes", data: manifest }, ...parts];
  const size = all.reduce((n, p) => n + (p.kind === "bytes" ? p.data.byteLength : p.size), 0);
  let closed = false;
  return {
    meta: { index, term, size },
    read(offset, maxBytes) {
      const out = Buffer.allocUnsafe(Math.max(0, Math.min(maxBytes, size - offset)));
      let filled = 0;
      let at = 0;
      for (const p of all) {
        const len = p.kind === "bytes" ? p.data.byteLength : p.size;
        if (filled < out.length && offset + filled < at + len) {
          const from = offset + filled - at;
          const n = Math.min(len - from, out.length - filled);
          if (p.kind === "bytes") out.set(p.data.subarray(from, from + n), filled);
          else readFully(p.fd, out, filled, n, from);
          filled += n;
        }
        at += len;
      }
      return out;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const fd of fds) closeSync(fd);
    },
  };
}

function readFully(fd: number, buf: Buffer, at: number, n: number, position: number): void {
  let done = 0;
  while (done < n) {
    const got = readSync(fd, buf, at + done, n - done, position + done);
    if (got === 0) throw new LanceError("LNC_SNAPSHOT_SOURCE", `snapshot source file shrank: ${n - done} bytes missing at ${position + done}`);
    done += got;
  }
}

/** Writes received chunks to `{data}/snapshot.staging`; offset 0 starts a new stream. */
export class SnapshotStaging {
  private fd: number | null = null;
  private forIndex = -1;
  private readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, SNAPSHOT_STAGING_FILE);
  }

  /** Stages one chunk (not yet synced; call sync() before acknowledging). */
  write(meta: SnapshotMeta, offset: number, data: Uint8Array): void {
    if (offset === 0 || this.fd === null || this.forIndex !== meta.index) {
      if (offset !== 0) return;
      this.closeFd();
      this.fd = openSync(this.path, "w", 0o640);
      this.forIndex = meta.index;
    }
    let done = 0;
    while (done < data.byteLength) done += writeSync(this.fd, data, done, data.byteLength - done, offset + done);
  }

  sync(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  get stagedPath(): string {
    return this.path;
  }

  closeFd(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  discard(): void {
    this.closeFd();
    rmSync(this.path, { force: true });
  }
}

/**
 * Unpacks the staged stream into `{data}/snapshot-install/`, checks it (manifest CRC, sizes,
 * paths, every topic opened by `verifyTopic`), and marks it complete. Nothing live is touched.
 */
export function unpackSnapshot(dataDir: string, stagedPath: string, meta: SnapshotMeta, verifyTopic: (dir: string) => void): void {
  const fd = openSync(stagedPath, "r");
  const installDir = join(dataDir, SNAPSHOT_INSTALL_DIR);
  try {
    const bad = (why: string): never => {
      throw new LanceError("LNC_SNAPSHOT_CORRUPT", `snapshot ${meta.index} (${stagedPath}) is unusable: ${why}; the leader will send it again`);
    };
    const total = fstatSync(fd).size;
    if (total < HEADER) bad(`only ${total} bytes staged`);
    const header = Buffer.alloc(HEADER);
    readFully(fd, header, 0, HEADER, 0);
    if (!header.subarray(0, 8).equals(MAGIC)) bad("bad magic");
    const mlen = header.readUInt32BE(8);
    if (HEADER + mlen > total) bad(`manifest length ${mlen} runs past the end`);
    const mbuf = Buffer.alloc(mlen);
    readFully(fd, mbuf, 0, mlen, HEADER);
    if (crc32c(mbuf) !== header.readUInt32BE(12)) bad("manifest CRC mismatch");
    const manifest = JSON.parse(mbuf.toString("utf8")) as Manifest;
    if (manifest.version !== VERSION || manifest.index !== meta.index || manifest.term !== meta.term) {
      bad(`manifest describes ${manifest.index}/${manifest.term} v${manifest.version}, expected ${meta.index}/${meta.term} v${VERSION}`);
    }
    const expected = HEADER + mlen + manifest.files.reduce((n, f) => n + f.size, 0);
    if (expected !== total || expected !== meta.size) bad(`${total} bytes staged, manifest accounts for ${expected}, Raft announced ${meta.size}`);

    rmSync(installDir, { recursive: true, force: true });
    mkdirSync(installDir, { recursive: true, mode: 0o750 });
    const topics = new Set<string>();
    let at = HEADER + mlen;
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (const f of manifest.files) {
      const problem = pathProblem(f.path);
      if (problem) bad(`file ${JSON.stringify(f.path)}: ${problem}`);
      const target = join(installDir, ...f.path.split("/"));
      mkdirSync(dirname(target), { recursive: true, mode: 0o750 });
      if (f.path.startsWith("segments/")) topics.add(f.path.split("/")[1]!);
      const out = openSync(target, "w", 0o640);
      try {
        for (let done = 0; done < f.size; ) {
          const n = Math.min(buf.length, f.size - done);
          readFully(fd, buf, 0, n, at + done);
          writeSync(out, buf, 0, n);
          done += n;
        }
        fsyncSync(out);
      } finally {
        closeSync(out);
      }
      at += f.size;
    }
    mkdirSync(join(installDir, "segments"), { recursive: true, mode: 0o750 });
    // Every batch of every segment must check out: opening a topic would quietly cut a damaged
    // tail of its active segment, and the follower would then hold less than the leader sent.
    for (const f of manifest.files) {
      if (!f.path.endsWith(SEGMENT_EXT)) continue;
      const scan = scanSegmentFile(join(installDir, ...f.path.split("/")));
      if (!scan.ok) bad(`${f.path} is damaged at byte ${scan.problems[0]!.position} (${scan.problems[0]!.kind})`);
    }
    try {
      JSON.parse(readFileSync(join(installDir, "consumer-offsets.json"), "utf8"));
    } catch {
      bad("consumer-offsets.json is not valid JSON");
    }
    for (const t of topics) verifyTopic(join(installDir, "segments", t));
    for (const t of topics) fsyncDir(join(installDir, "segments", t));
    fsyncDir(join(installDir, "segments"));
    writeFileAtomic(join(installDir, COMPLETE_MARKER), JSON.stringify({ index: meta.index, term: meta.term }));
  } finally {
    closeSync(fd);
  }
}

/** `segments/<topic>/<file>` with a valid topic name, or `consumer-offsets.json`: nothing else may be written. */
function pathProblem(path: string): string | null {
  if (path === "consumer-offsets.json") return null;
  const parts = path.split("/");
  if (parts.length !== 3 || parts[0] !== "segments") return "not segments/<topic>/<file>";
  const topicProblem = topicNameProblem(parts[1]!);
  if (topicProblem) return topicProblem;
  const file = parts[2]!;
  if (file === "" || file === "." || file === ".." || file.includes(sep) || file.includes("\\") || file.includes("\0")) return "bad file name";
  return null;
}

/**
 * Replaces `{data}/segments` (and consumer offsets) by a complete unpacked snapshot. Safe to
 * repeat after a crash at any point: startup calls it again while the marker exists.
 * Returns the snapshot's index and term, or null when there is nothing to install.
 */
export function swapInSnapshot(dataDir: string): { index: number; term: number } | null {
  const installDir = join(dataDir, SNAPSHOT_INSTALL_DIR);
  const marker = join(installDir, COMPLETE_MARKER);
  if (!existsSync(marker)) {
    rmSync(installDir, { recursive: true, force: true });
    return null;
  }
  const at = JSON.parse(readFileSync(marker, "utf8")) as { index: number; term: number };
  const live = segmentsDir(dataDir);
  const fresh = join(installDir, "segments");
  const offsets = join(installDir, "consumer-offsets.json");
  if (existsSync(offsets)) renameSync(offsets, join(dataDir, "consumer-offsets.json"));
  if (existsSync(fresh)) {
    const old = join(installDir, "segments.replaced");
    if (existsSync(live)) renameSync(live, old);
    renameSync(fresh, live);
  }
  fsyncDir(dataDir);
  return at;
}

/** After the WAL was reset to the snapshot: drop the install directory (and the replaced segments). */
export function finishSnapshotInstall(dataDir: string): void {
  rmSync(join(dataDir, SNAPSHOT_INSTALL_DIR), { recursive: true, force: true });
  rmSync(join(dataDir, SNAPSHOT_STAGING_FILE), { force: true });
}
