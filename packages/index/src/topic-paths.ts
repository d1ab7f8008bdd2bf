import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SEGMENT_INDEX_EXT, TOPIC_CATALOG_FILE, parseSegmentName, quarantineDir } from "@lance/segment-format";

export function segmentIndexPath(topicDir: string, stem: string): string {
  return join(topicDir, stem + SEGMENT_INDEX_EXT);
}

export function catalogPath(topicDir: string): string {
  return join(topicDir, TOPIC_CATALOG_FILE);
}

/**
 * Base offsets of segments of this topic found in quarantine: `{data}/quarantine/{topic}/`
 * (design.md D2) and `{data}/quarantine/` itself (where runbook 4.2's `mv` puts them).
 */
export function quarantinedBases(topicDir: string): number[] {
  const segmentsDir = dirname(topicDir);
  if (basename(segmentsDir) !== "segments") return [];
  const dataDir = dirname(segmentsDir);
  const bases: number[] = [];
  for (const dir of [quarantineDir(dataDir, basename(topicDir)), join(dataDir, "quarantine")]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const name = parseSegmentName(f);
      if (name) bases.push(name.baseOffset);
    }
  }
  return bases;
}
