import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crc32c, isLanceError, writeFileAtomic } from "@lance/segment-format";
import { loadWalFiles } from "./analyze.js";
import { walError } from "./errors.js";
import { CHECKPOINT_FILE, HARD_STATE_FILE } from "./paths.js";

/**
 * Raft hard state; `vote` is a node id or null. `rejoining` and `diskId` are the Raft node's
 * empty-disk rejoin state (docs/raft.md); absent in files written before they existed.
 */
export interface HardState {
  term: number;
  vote: number | null;
  commit: number;
  rejoining?: boolean;
  diskId?: number;
}

/** "Every entry up to `index` is applied and durable elsewhere"; `term` is that entry's term. */
export interface Checkpoint {
  index: number;
  term: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };
export const EMPTY_CHECKPOINT: Checkpoint = { index: 0, term: 0 };

/**
 * Small state files are JSON (operators can read them) with a CRC32C over the canonical
 * body, replaced atomically (temp file, fsync, rename, fsync dir).
 */
export function encodeStateFile(body: Record<string, unknown>): string {
  const canonical = JSON.stringify(body);
  return `${JSON.stringify({ ...body, crc32c: crc32c(Buffer.from(canonical, "utf8")) })}\n`;
}

function decode(path: string, keys: string[], hint: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw walError("LNC_WAL_STATE_CORRUPT", `${path} is not valid JSON; ${hint}`, { cause: err });
  }
  const body: Record<string, unknown> = {};
  for (const k of keys) body[k] = parsed[k];
  if (parsed.crc32c !== crc32c(Buffer.from(JSON.stringify(body), "utf8"))) {
    throw walError("LNC_WAL_STATE_CORRUPT", `${path}: CRC mismatch; ${hint}`);
  }
  return body;
}

const HARD_STATE_HINT = "restore it from a backup (repair cannot rebuild a Raft vote; in a cluster, replace the node instead)";
const checkpointHint = (dir: string): string => `run: lnc repair --path ${dir} (writes a safe checkpoint)`;

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

export function validateHardState(s: HardState): void {
  const extrasOk = (s.rejoining === undefined || typeof s.rejoining === "boolean") && (s.diskId === undefined || isCount(s.diskId));
  if (!isCount(s.term) || !isCount(s.commit) || !(s.vote === null || isCount(s.vote)) || !extrasOk) {
    throw walError("LNC_WAL_BAD_ARGUMENT", `invalid hard state ${JSON.stringify(s)}`);
  }
}

export function readHardState(dir: string): HardState {
  const path = join(dir, HARD_STATE_FILE);
  const b = decode(path, ["term", "vote", "commit", "rejoining", "diskId"], HARD_STATE_HINT);
  if (!b) return { ...EMPTY_HARD_STATE };
  const s = { term: b.term, vote: b.vote, commit: b.commit, ...optionalRaftFields(b) } as HardState;
  try {
    validateHardState(s);
  } catch {
    throw walError("LNC_WAL_STATE_CORRUPT", `${path}: fields out of range; ${HARD_STATE_HINT}`);
  }
  return s;
}

export function writeHardState(dir: string, s: HardState): void {
  validateHardState(s);
  writeFileAtomic(join(dir, HARD_STATE_FILE), encodeHardState(s));
}

export function readCheckpoint(dir: string): Checkpoint {
  const path = join(dir, CHECKPOINT_FILE);
  const b = decode(path, ["index", "term"], checkpointHint(dir));
  if (!b) return { ...EMPTY_CHECKPOINT };
  if (!isCount(b.index) || !isCount(b.term)) throw walError("LNC_WAL_STATE_CORRUPT", `${path}: fields out of range; ${checkpointHint(dir)}`);
  return { index: b.index, term: b.term };
}

export function writeCheckpoint(dir: string, c: Checkpoint): void {
  writeFileAtomic(join(dir, CHECKPOINT_FILE), encodeCheckpoint(c));
}

export function encodeHardState(s: HardState): string {
  return encodeStateFile({ term: s.term, vote: s.vote, commit: s.commit, ...optionalRaftFields(s) });
}

/** Only the optional fields that are set: an absent key leaves the canonical body (and CRC) of older files unchanged. */
function optionalRaftFields(s: { rejoining?: unknown; diskId?: unknown }): Pick<HardState, "rejoining" | "diskId"> {
  return {
    ...(s.rejoining !== undefined ? { rejoining: s.rejoining as boolean } : {}),
    ...(s.diskId !== undefined ? { diskId: s.diskId as number } : {}),
  };
}

export function encodeCheckpoint(c: Checkpoint): string {
  return encodeStateFile({ index: c.index, term: c.term });
}

/** The checkpoint, or when checkpoint.json is corrupt a safe stand-in: just below the first index the files hold. */
export function readOrDeriveCheckpoint(dir: string): { checkpoint: Checkpoint; problem: string | null } {
  try {
    return { checkpoint: readCheckpoint(dir), problem: null };
  } catch (err) {
    if (!isLanceError(err, "LNC_WAL_STATE_CORRUPT")) throw err;
    const firsts = loadWalFiles(dir).flatMap((f) => (f.header ? [f.header.firstIndex] : []));
    const index = firsts.length > 0 ? Math.min(...firsts) - 1 : 0;
    return { checkpoint: { index, term: 0 }, problem: err.message };
  }
}
