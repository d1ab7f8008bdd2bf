import { readdirSync } from "node:fs";
import { join } from "node:path";
import { LanceError } from "./errors.js";
import { SEGMENT_EXT, compareSegmentNames, parseSegmentName, type SegmentName } from "./naming.js";

/** Directory layout of a data dir (design.md D2). */
export function segmentsDir(dataDir: string): string {
  return join(dataDir, "segments");
}
export function topicDir(dataDir: string, topic: string): string {
  return join(segmentsDir(dataDir), topic);
}
export function walDir(dataDir: string): string {
  return join(dataDir, "wal");
}
export function quarantineDir(dataDir: string, topic: string): string {
  return join(dataDir, "quarantine", topic);
}

export const MAX_TOPIC_NAME_LENGTH = 249;
const TOPIC_RE = /^[A-Za-z0-9-]+$/;

/**
 * Topic names are directory names, so they are held to upstream's alphabet ([A-Za-z0-9-])
 * plus a length cap; all-digit names are refused because upstream used numeric dirs for ids.
 * Returns the reason a name is refused, or null when it is fine.
 */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return "topic name is empty";
  if (name.length > MAX_TOPIC_NAME_LENGTH) return `topic name is ${name.length} characters, the limit is ${MAX_TOPIC_NAME_LENGTH}`;
  if (!TOPIC_RE.test(name)) return `topic name ${JSON.stringify(name)} may only use letters, digits and '-'`;
  if (/^\d+$/.test(name)) return `topic name ${JSON.stringify(name)} is all digits, which is reserved for legacy topic-id directories`;
  return null;
}

export function assertTopicName(name: string): void {
  const problem = topicNameProblem(name);
  if (problem) throw new LanceError("LNC_BAD_ARGUMENT", problem);
}

/** The segment files of a topic directory in log order, plus `.lnc` files whose names do not parse. */
export function listTopicSegments(dir: string): { segments: SegmentName[]; strays: string[] } {
  const segments: SegmentName[] = [];
  const strays: string[] = [];
  for (const file of readdirSync(dir)) {
    if (!file.endsWith(SEGMENT_EXT)) continue;
    const name = parseSegmentName(file);
    if (name) segments.push(name);
    else strays.push(file);
  }
  segments.sort(compareSegmentNames);
  return { segments, strays };
}
