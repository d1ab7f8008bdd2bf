import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { LanceError, isLanceError, readTopicMetadata, segmentsDir, topicDir, type TopicMetadata } from "@lance/segment-format";
import { requireDir } from "./paths.js";

/** Finds a topic's directory by name, or by numeric id through metadata.json. */
export function resolveTopicDir(dataDir: string, topic: string): string {
  requireDir(dataDir, "data directory");
  const byName = topicDir(dataDir, topic);
  if (existsSync(byName)) return byName;
  if (/^\d+$/.test(topic)) {
    for (const t of listTopicDirs(dataDir)) {
      if (t.metadata?.id === Number(topic)) return t.dir;
    }
  }
  const known = listTopicDirs(dataDir).map((t) => t.name);
  throw new LanceError(
    "LNC_NOT_FOUND",
    `topic ${JSON.stringify(topic)} not found in ${segmentsDir(dataDir)}` + (known.length ? ` (topics: ${known.join(", ")})` : " (no topics there)"),
  );
}

export interface TopicDirEntry {
  name: string;
  dir: string;
  metadata: TopicMetadata | null;
  metadataError: string | null;
}

/** Every directory under `{data}/segments/`, with its metadata when readable. */
export function listTopicDirs(dataDir: string): TopicDirEntry[] {
  const root = segmentsDir(dataDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => statSync(join(root, n)).isDirectory())
    .sort()
    .map((name) => {
      const dir = join(root, name);
      try {
        return { name, dir, metadata: readTopicMetadata(dir), metadataError: null };
      } catch (err) {
        if (!isLanceError(err)) throw err;
        return { name, dir, metadata: null, metadataError: err.message };
      }
    });
}
