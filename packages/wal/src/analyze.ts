import { openSync, readSync, closeSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import {
  FILE_HEADER_SIZE,
  FRAME_ALIGN,
  FRAME_HEADER_SIZE,
  MAX_USER_TYPE,
  NO_MAGIC,
  TYPE_GAP,
  TYPE_TRUNCATE,
  decodeFileHeader,
  parseFrameAt,
  type FileHeader,
  type Frame,
  type FrameParse,
} from "./format.js";
import { listWalFiles } from "./paths.js";
import type { Checkpoint } from "./state.js";

export interface WalFileInfo {
  name: string;
  path: string;
  size: number;
  header: FileHeader | null;
  headerProblem: string | null;
}

export interface EntryLocation {
  index: number;
  term: number;
  type: number;
  epoch: number;
  /** Position in `WalAnalysis.files`. */
  file: number;
  offset: number;
  payloadLength: number;
  size: number;
}

/** Indexes `from..=to` that are absent from the log (skipped by `lnc repair --skip-corrupt`). */
export interface Hole {
  from: number;
  to: number;
  /** Term recorded with the gap (that of the entry before it). */
  term: number;
}

/** A damaged region: where the log stops making sense and where valid entries resume. */
export interface Damage {
  file: string;
  offset: number;
  reason: string;
  /** Bytes between the damage and the next valid frame. */
  bytes: number;
  resumeFile: string;
  resumeOffset: number;
  resumeIndex: number;
  /** Entry indexes lost in this region (empty when `lostFrom > lostTo`). */
  lostFrom: number;
  lostTo: number;
}

/** The end of the log: clean (zeros, stale frames, end of file) or a torn (partial) write. */
export interface Tail {
  file: string;
  offset: number;
  kind: "clean" | "torn";
  reason: string;
  /** Bytes of the torn write (0 when clean). */
  bytes: number;
}

export interface WalAnalysis {
  files: WalFileInfo[];
  /** Files that hold the log, in order (positions in `files`). */
  chain: number[];
  entries: EntryLocation[];
  holes: Hole[];
  lastIndex: number;
  lastTerm: number;
  /** Last index the walk reached in the files (below the checkpoint when they end before it). */
  chainLastIndex: number;
  /** Where the next frame goes: file position in `files` (null: no file yet) and byte offset. */
  endFile: number | null;
  endOffset: number;
  tail: Tail | null;
  /** In replay mode at most one (the walk stops); in skip mode every region skipped. */
  damages: Damage[];
  maxEpoch: number;
}

export type AnalyzeMode = "replay" | "skip";

export function loadWalFiles(dir: string): WalFileInfo[] {
  return listWalFiles(dir).map((name) => {
    const path = join(dir, name);
    const size = statSync(path).size;
    const head = Buffer.alloc(Math.min(FILE_HEADER_SIZE, size));
    const fd = openSync(path, "r");
    try {
      readSync(fd, head, 0, head.byteLength, 0);
    } finally {
      closeSync(fd);
    }
    const h = decodeFileHeader(head);
    return h.ok
      ? { name, path, size, header: h.header, headerProblem: null }
      : { name, path, size, header: null, headerProblem: h.reason };
  });
}

interface Evidence {
  file: number;
  offset: number;
  index: number;
  epoch: number;
  /** A file header (firstIndex beyond the end) rather than a frame. */
  fromHeader: boolean;
}

function describeStop(r: FrameParse, frameProblem: string | null, staleEpoch: boolean): { clean: boolean; reason: string } {
  if (r.kind === "slack") return { clean: true, reason: "end of file" };
  if (r.kind === "zero") return { clean: true, reason: "zeroed bytes where a frame should start" };
  // Our writes start at frame boundaries, so a torn write always leaves a frame magic at the
  // end of the log; anything else there is old content (e.g. the middle of a recycled file's
  // stale frame).
  if (r.kind === "bad" && r.reason === NO_MAGIC) return { clean: true, reason: "old bytes where a frame should start" };
  if (r.kind === "bad") return staleEpoch ? { clean: true, reason: "damaged frame from an older epoch" } : { clean: false, reason: r.reason };
  if (frameProblem === null) return { clean: true, reason: "stale frame from an older epoch" };
  return { clean: false, reason: frameProblem };
}

/**
 * Walks a WAL directory the way replay does (design: docs/wal-format.md, "Replay rules").
 * Read-only. In "replay" mode the walk stops at the first damage; in "skip" mode it records
 * the damage, resumes at the next valid frame and goes on.
 */
export function analyzeWal(dir: string, checkpoint: Checkpoint, mode: AnalyzeMode): WalAnalysis {
  const files = loadWalFiles(dir);
  const c = checkpoint.index;
  let cache: { file: number; bytes: Buffer } | null = null;
  const bytesOf = (i: number): Buffer => {
    if (cache?.file !== i) cache = { file: i, bytes: readFileSync(files[i]!.path) };
    return cache.bytes;
  };
  const withHeader = files
    .map((f, i) => ({ f, i }))
    .filter((x) => x.f.header !== null)
    // Among files starting at the same index, the oldest (lowest epoch) comes first: after a
    // truncation a newer file can start where an older one did, and the chain must pass through
    // the older one (which holds the truncation record) first.
    .sort((a, b) => a.f.header!.firstIndex - b.f.header!.firstIndex || a.f.header!.epoch - b.f.header!.epoch);

  const entries: EntryLocation[] = [];
  const holes: Hole[] = [];
  const damages: Damage[] = [];
  const chain: number[] = [];
  const used = new Set<number>();
  let maxEpoch = Math.max(0, ...withHeader.map((x) => x.f.header!.epoch));

  const start = withHeader.find((x) => x.f.header!.firstIndex <= c + 1);
  let cur: number | null = start ? start.i : null;
  let pos = FILE_HEADER_SIZE;
  let iLast = start ? start.f.header!.firstIndex - 1 : c;
  // A file's first frames may be entries a later truncation record voids (written in older
  // terms), so the term check starts fresh at a file boundary we enter without context.
  let tLast = start ? 0 : checkpoint.term;
  let eLast = start ? start.f.header!.epoch : 0;
  let tail: Tail | null = null;

  /**
   * Applies a CRC-valid frame that continues the log and returns "". Otherwise returns null for
   * a stale frame (older epoch: a clean end) or the reason the frame breaks the log.
   */
  const apply = (fr: Frame, file: number, offset: number): string | null => {
    if (fr.epoch < eLast) return null;
    if (fr.type === TYPE_TRUNCATE) {
      if (fr.index > iLast) return `truncation record for index ${fr.index} beyond the last index ${iLast}`;
      while (entries.length > 0 && entries[entries.length - 1]!.index > fr.index) entries.pop();
      while (holes.length > 0 && holes[holes.length - 1]!.from > fr.index) holes.pop();
      const lastHole = holes[holes.length - 1];
      if (lastHole && lastHole.to > fr.index) lastHole.to = fr.index;
      iLast = fr.index;
      tLast = fr.term;
    } else if (fr.type === TYPE_GAP) {
      if (fr.index <= iLast || fr.term < tLast) return `gap record for index ${fr.index} does not follow index ${iLast}`;
      holes.push({ from: iLast + 1, to: fr.index, term: fr.term });
      iLast = fr.index;
      tLast = fr.term;
    } else {
      if (fr.type > MAX_USER_TYPE) return `unknown record type 0x${fr.type.toString(16)}`;
      if (fr.index !== iLast + 1) return `entry index ${fr.index} where ${iLast + 1} was expected`;
      if (fr.term < tLast) return `entry ${fr.index} has term ${fr.term} below the previous term ${tLast}`;
      entries.push({
        index: fr.index,
        term: fr.term,
        type: fr.type,
        epoch: fr.epoch,
        file,
        offset,
        payloadLength: fr.payloadLength,
        size: fr.size,
      });
      iLast = fr.index;
      tLast = fr.term;
    }
    eLast = fr.epoch;
    maxEpoch = Math.max(maxEpoch, fr.epoch);
    return "";
  };

  /** A frame after the end of the log that proves entries were lost (or, in skip mode, where to resume). */
  const findEvidence = (from: number | null, fromOffset: number): Evidence | null => {
    const threshold = Math.max(iLast, c);
    const found: Evidence[] = [];
    const scanBody = (file: number, offset: number): void => {
      const buf = bytesOf(file);
      for (let q = offset; q + FRAME_HEADER_SIZE <= buf.byteLength; q += FRAME_ALIGN) {
        const peek = parseFrameAt(buf, q, false);
        if (peek.kind !== "frame" || peek.frame.epoch < eLast || peek.frame.index <= threshold) continue;
        if (peek.frame.type === TYPE_TRUNCATE) continue;
        const full = parseFrameAt(buf, q, true);
        if (full.kind !== "frame") continue;
        maxEpoch = Math.max(maxEpoch, full.frame.epoch);
        found.push({ file, offset: q, index: full.frame.index, epoch: full.frame.epoch, fromHeader: false });
        return;
      }
    };
    if (from !== null) scanBody(from, fromOffset);
    files.forEach((f, i) => {
      if (used.has(i)) return;
      const h = f.header;
      if (h && h.epoch >= eLast && h.firstIndex > threshold) {
        found.push({ file: i, offset: FILE_HEADER_SIZE, index: h.firstIndex, epoch: h.epoch, fromHeader: true });
      } else {
        scanBody(i, FILE_HEADER_SIZE);
      }
    });
    found.sort((a, b) => a.index - b.index || Number(b.file === from) - Number(a.file === from));
    return found[0] ?? null;
  };

  for (;;) {
    let stop: { clean: boolean; reason: string } = { clean: true, reason: "no WAL files" };
    if (cur !== null) {
      if (!used.has(cur)) {
        used.add(cur);
        chain.push(cur);
      }
      const buf = bytesOf(cur);
      for (;;) {
        const r = parseFrameAt(buf, pos);
        let problem: string | null = null;
        if (r.kind === "frame") {
          problem = apply(r.frame, cur, pos);
          if (problem === "") {
            pos += r.frame.size;
            continue;
          }
        }
        const unverified = r.kind === "bad" ? parseFrameAt(buf, pos, false) : null;
        stop = describeStop(r, problem, unverified?.kind === "frame" && unverified.frame.epoch < eLast);
        break;
      }
      // The next file continues at iLast + 1; when the files so far end behind the checkpoint,
      // a file starting right after the checkpoint also continues the log (snapshot reset).
      const follows = (want: number): (typeof withHeader)[number] | undefined =>
        withHeader.find((x) => !used.has(x.i) && x.f.header!.firstIndex === want && x.f.header!.epoch >= eLast);
      const normal = follows(iLast + 1);
      const next = normal ?? (iLast < c ? follows(c + 1) : undefined);
      if (next) {
        if (!normal) {
          iLast = c;
          tLast = 0;
        }
        cur = next.i;
        pos = FILE_HEADER_SIZE;
        eLast = next.f.header!.epoch;
        continue;
      }
    }
    const ev = findEvidence(cur, pos);
    if (!ev) {
      if (cur !== null) {
        tail = {
          file: files[cur]!.path,
          offset: pos,
          kind: stop.clean ? "clean" : "torn",
          reason: stop.reason,
          bytes: stop.clean ? 0 : junkExtent(bytesOf(cur), pos, eLast),
        };
      }
      break;
    }
    const threshold = Math.max(iLast, c);
    const evFile = files[ev.file]!;
    const what = cur === null ? `the log is empty after checkpoint ${c}` : stop.reason;
    damages.push({
      file: cur === null ? evFile.path : files[cur]!.path,
      offset: cur === null ? ev.offset : pos,
      reason: `${what} (expected index ${threshold + 1}); valid entries resume at index ${ev.index} in ${basename(evFile.path)} at byte ${ev.offset}`,
      bytes: ev.file === cur ? ev.offset - pos : (cur === null ? 0 : files[cur]!.size - pos) + ev.offset - FILE_HEADER_SIZE,
      resumeFile: evFile.path,
      resumeOffset: ev.offset,
      resumeIndex: ev.index,
      lostFrom: threshold + 1,
      lostTo: ev.index - 1,
    });
    if (mode === "replay") break;
    if (ev.index - 1 > threshold) holes.push({ from: threshold + 1, to: ev.index - 1, term: tLast });
    cur = ev.file;
    pos = ev.offset;
    iLast = ev.index - 1;
    tLast = 0;
    eLast = ev.epoch;
    if (!used.has(cur)) {
      used.add(cur);
      chain.push(cur);
    }
  }

  const lastIndex = Math.max(iLast, c);
  const lastTerm = iLast > c ? tLast : checkpoint.term;
  return { files, chain, entries, holes, lastIndex, lastTerm, chainLastIndex: iLast, endFile: cur, endOffset: pos, tail, damages, maxEpoch };
}

/**
 * How far a torn write reaches: to the end of the last byte run after `from` that is neither
 * zeros nor an intact frame from an older epoch. Zeroing that much leaves a clean end.
 */
function junkExtent(buf: Uint8Array, from: number, eLast: number): number {
  let junkEnd = from + FRAME_ALIGN;
  let q = from;
  while (q + FRAME_HEADER_SIZE <= buf.byteLength) {
    const r = parseFrameAt(buf, q);
    if (r.kind === "frame" && r.frame.epoch < eLast) {
      q += r.frame.size;
    } else if (r.kind === "zero") {
      q += FRAME_ALIGN;
    } else {
      q += FRAME_ALIGN;
      junkEnd = q;
    }
  }
  if (q < buf.byteLength && buf.subarray(q).some((b) => b !== 0)) junkEnd = buf.byteLength;
  return Math.min(junkEnd, buf.byteLength) - from;
}
