import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { analyzeWal, type Damage, type Tail } from "./analyze.js";
import type { IndexRange } from "./entry-table.js";
import { WalReplayError } from "./errors.js";
import {
  FILE_HEADER_SIZE,
  FRAME_ALIGN,
  FRAME_HEADER_SIZE,
  MAX_USER_TYPE,
  TYPE_GAP,
  TYPE_TRUNCATE,
  decodeFileHeader,
  parseFrameAt,
  type FileHeader,
} from "./format.js";
import { isLanceError } from "@lance/segment-format";
import { readHardState, readOrDeriveCheckpoint, type Checkpoint, type HardState } from "./state.js";

export type RecordKind = "entry" | "gap" | "truncate";

/** One frame of a WAL file as `lnc scan` lists it. */
export interface WalScanRecord {
  offset: number;
  /** Bytes the frame occupies (padding included). */
  size: number;
  kind: RecordKind;
  index: number;
  term: number;
  type: number;
  epoch: number;
  payloadLength: number;
  /** "mismatch": the frame header is readable but the CRC over it fails (its fields are untrusted). */
  crc: "ok" | "mismatch";
}

export interface WalScanProblem {
  offset: number;
  reason: string;
  /** Bytes until the next valid frame (the damaged region). */
  bytes: number;
}

export interface WalFileScan {
  path: string;
  size: number;
  header: FileHeader | null;
  headerProblem: string | null;
  records: WalScanRecord[];
  /** Damaged regions followed by valid frames (mid-file corruption). */
  problems: WalScanProblem[];
  /** Where the file's log ends and why. */
  end: { offset: number; kind: "clean" | "torn"; reason: string };
  entryCount: number;
  firstIndex: number | null;
  lastIndex: number | null;
  ok: boolean;
}

function kindOf(type: number): RecordKind {
  if (type === TYPE_GAP) return "gap";
  if (type === TYPE_TRUNCATE) return "truncate";
  return "entry";
}

/**
 * Lists the frames of one WAL file with their CRC status (`lnc scan --path <wal file>`).
 * Read-only. A damaged region is reported with its byte position and the scan resumes at the
 * next valid frame; the end of the file's log (zeros, stale frames from a recycled file, or a
 * torn write) is reported in `end`.
 */
export function scanWalFile(path: string): WalFileScan {
  const buf = readFileSync(path);
  const h = decodeFileHeader(buf);
  const header = h.ok ? h.header : null;
  const records: WalScanRecord[] = [];
  const problems: WalScanProblem[] = [];
  let eLast = header?.epoch ?? 0;
  let iLast: number | null = header ? header.firstIndex - 1 : null;
  let pos = FILE_HEADER_SIZE;
  let end: WalFileScan["end"] | null = null;

  const continues = (type: number, index: number, epoch: number): boolean => {
    if (epoch < eLast) return false;
    if (iLast === null) return type !== TYPE_TRUNCATE;
    if (type === TYPE_TRUNCATE) return index <= iLast;
    if (type === TYPE_GAP) return index > iLast;
    return type <= MAX_USER_TYPE && index === iLast + 1;
  };

  while (end === null) {
    const r = parseFrameAt(buf, pos);
    if (r.kind === "frame" && continues(r.frame.type, r.frame.index, r.frame.epoch)) {
      const f = r.frame;
      records.push({ offset: pos, size: f.size, kind: kindOf(f.type), index: f.index, term: f.term, type: f.type, epoch: f.epoch, payloadLength: f.payloadLength, crc: "ok" });
      eLast = f.epoch;
      iLast = f.index;
      pos += f.size;
      continue;
    }
    let reason: string;
    let clean = false;
    if (r.kind === "slack") [reason, clean] = ["end of file", true];
    else if (r.kind === "zero") [reason, clean] = ["zeroed bytes where a frame should start", true];
    else if (r.kind === "bad") reason = r.reason;
    else if (r.frame.epoch < eLast) [reason, clean] = ["stale frame from an older epoch", true];
    else reason = `record index ${r.frame.index} does not follow ${iLast}`;
    if (r.kind === "bad" && r.reason === "CRC mismatch") {
      const u = parseFrameAt(buf, pos, false);
      if (u.kind === "frame") {
        const f = u.frame;
        records.push({ offset: pos, size: f.size, kind: kindOf(f.type), index: f.index, term: f.term, type: f.type, epoch: f.epoch, payloadLength: f.payloadLength, crc: "mismatch" });
      }
    }
    const resume = nextValidFrame(buf, pos + FRAME_ALIGN, eLast, iLast);
    if (resume === null) {
      end = { offset: pos, kind: clean ? "clean" : "torn", reason };
      break;
    }
    problems.push({ offset: pos, reason, bytes: resume - pos });
    iLast = null;
    pos = resume;
  }
  const entries = records.filter((x) => x.kind === "entry" && x.crc === "ok");
  return {
    path,
    size: buf.byteLength,
    header,
    headerProblem: h.ok ? null : h.reason,
    records,
    problems,
    end,
    entryCount: entries.length,
    firstIndex: entries[0]?.index ?? null,
    lastIndex: entries[entries.length - 1]?.index ?? null,
    ok: h.ok && problems.length === 0 && end.kind === "clean",
  };
}

function nextValidFrame(buf: Uint8Array, from: number, eMin: number, iLast: number | null): number | null {
  for (let q = from; q + FRAME_HEADER_SIZE <= buf.byteLength; q += FRAME_ALIGN) {
    const peek = parseFrameAt(buf, q, false);
    if (peek.kind !== "frame" || peek.frame.epoch < eMin || peek.frame.type === TYPE_TRUNCATE) continue;
    if (iLast !== null && peek.frame.index <= iLast) continue;
    if (parseFrameAt(buf, q).kind === "frame") return q;
  }
  return null;
}

export interface WalDirFileSummary {
  name: string;
  path: string;
  size: number;
  firstIndex: number | null;
  epoch: number | null;
  /** "log": holds part of the log; "spare": recyclable (stale, behind the checkpoint, or unreadable header). */
  role: "log" | "spare";
  headerProblem: string | null;
}

export interface WalDirScan {
  dir: string;
  /** From checkpoint.json; when that is corrupt, the stand-in repair would write. */
  checkpoint: Checkpoint;
  /** Null when hardstate.json is corrupt. */
  hardState: HardState | null;
  /** Corrupt state files (startup refuses while any is listed). */
  stateProblems: string[];
  files: WalDirFileSummary[];
  /** "clean": opens as is; "torn-tail": opens, cutting the tail; "corrupt": startup refuses until repaired. */
  status: "clean" | "torn-tail" | "corrupt";
  firstIndex: number;
  lastIndex: number;
  /** Entries above the checkpoint that replay would deliver. */
  entryCount: number;
  tornTail: Tail | null;
  /** Every damaged region (the scan resumes after each, as --skip-corrupt would). */
  damages: Damage[];
  /** The error startup would stop with, or null. */
  replayError: string | null;
  /** Existing holes from an earlier `--skip-corrupt` repair. */
  holes: IndexRange[];
}

/** Read-only health report of a WAL directory: what startup would do and what repair would change. */
export function scanWalDir(dir: string): WalDirScan {
  const stateProblems: string[] = [];
  const { checkpoint, problem } = readOrDeriveCheckpoint(dir);
  if (problem) stateProblems.push(problem);
  let hardState: HardState | null = null;
  try {
    hardState = readHardState(dir);
  } catch (err) {
    if (!isLanceError(err, "LNC_WAL_STATE_CORRUPT")) throw err;
    stateProblems.push(err.message);
  }
  const replay = analyzeWal(dir, checkpoint, "replay");
  const skip = analyzeWal(dir, checkpoint, "skip");
  const first = replay.damages[0];
  const inChain = new Set(replay.chain);
  const entries = replay.entries.filter((e) => e.index > checkpoint.index);
  return {
    dir,
    checkpoint,
    hardState,
    stateProblems,
    files: replay.files.map((f, i) => ({
      name: basename(f.path),
      path: f.path,
      size: f.size,
      firstIndex: f.header?.firstIndex ?? null,
      epoch: f.header?.epoch ?? null,
      role: inChain.has(i) ? "log" : "spare",
      headerProblem: f.headerProblem,
    })),
    status: first || stateProblems.length > 0 ? "corrupt" : replay.tail?.kind === "torn" ? "torn-tail" : "clean",
    firstIndex: entries[0]?.index ?? replay.lastIndex + 1,
    lastIndex: replay.lastIndex,
    entryCount: entries.length,
    tornTail: replay.tail?.kind === "torn" ? replay.tail : null,
    damages: skip.damages,
    replayError: first ? new WalReplayError(dir, first.file, first.offset, first.reason).message : null,
    holes: replay.holes.map(({ from, to }) => ({ from, to })),
  };
}
