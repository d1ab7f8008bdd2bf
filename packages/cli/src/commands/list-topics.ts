import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { catalogPath, readCatalog } from "@lance/index";
import { listTopicSegments, segmentsDir, type TopicRetention } from "@lance/segment-format";
import { formatBytes, formatRange, table, toJson } from "../format.js";
import { EXIT_OK, type CommandIO } from "../io.js";
import { requireDir } from "./paths.js";
import { listTopicDirs } from "./topics.js";

export interface ListTopicsOfflineOptions {
  path: string;
  json?: boolean;
}

export interface OfflineTopic {
  name: string;
  id: number | null;
  created_at: number | null;
  retention: TopicRetention | null;
  segments: number;
  bytes: number;
  /** From index.idx when it is readable, else from segment file names. */
  log_start_offset: number | null;
  next_offset: number | null;
  status: "ok" | "no-metadata" | "bad-metadata";
  problem?: string;
}

export function listTopicsOffline(dataDir: string): OfflineTopic[] {
  requireDir(dataDir, "data directory");
  if (!existsSync(segmentsDir(dataDir))) return [];
  return listTopicDirs(dataDir).map((t) => {
    const { segments } = listTopicSegments(t.dir);
    const bytes = segments.reduce((n, s) => n + statSync(join(t.dir, s.fileName)).size, 0);
    const ext = extentOf(t.dir, segments.map((s) => s.baseOffset));
    const status = t.metadata ? "ok" : existsSync(join(t.dir, "metadata.json")) ? "bad-metadata" : "no-metadata";
    return {
      name: t.metadata?.name ?? t.name,
      id: t.metadata?.id ?? null,
      created_at: t.metadata?.created_at ?? null,
      retention: t.metadata?.retention ?? null,
      segments: segments.length,
      bytes,
      ...ext,
      status,
      ...(t.metadataError ? { problem: t.metadataError } : {}),
    };
  });
}

function extentOf(dir: string, bases: number[]): { log_start_offset: number | null; next_offset: number | null } {
  try {
    const c = readCatalog(catalogPath(dir));
    return { log_start_offset: c.logStartOffset, next_offset: c.nextOffset };
  } catch {
    return { log_start_offset: bases.length ? Math.min(...bases) : null, next_offset: null };
  }
}

export function runListTopicsOffline(opts: ListTopicsOfflineOptions, io: CommandIO): number {
  const topics = listTopicsOffline(opts.path);
  if (opts.json) {
    io.out(toJson(topics));
    return EXIT_OK;
  }
  if (topics.length === 0) {
    io.out(`No topics in ${segmentsDir(opts.path)}`);
    return EXIT_OK;
  }
  const rows = topics.map((t) => [
    t.name,
    t.id === null ? "-" : String(t.id),
    String(t.segments),
    formatBytes(t.bytes),
    t.log_start_offset === null ? "-" : t.next_offset === null ? `${t.log_start_offset}..?` : formatRange(t.log_start_offset, t.next_offset),
    t.status === "ok" ? "ok" : `${t.status}${t.problem ? `: ${t.problem}` : ""}`,
  ]);
  io.out(table([["NAME", "ID", "SEGMENTS", "SIZE", "OFFSETS", "STATUS"], ...rows]));
  return EXIT_OK;
}

