import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LanceError, writeFileAtomic } from "@lance/segment-format";

/**
 * Offsets committed with CommitOffset, kept in `{data}/consumer-offsets.json` (upstream kept
 * them in memory only, so they vanished on restart). Written atomically on every commit.
 * In a cluster a commit is a Raft entry, applied (and written) on every node.
 */
export class ConsumerOffsets {
  readonly path: string;
  private readonly offsets = new Map<string, string>();

  constructor(dataDir: string) {
    this.path = join(dataDir, "consumer-offsets.json");
    this.reload();
  }

  /** Reads the file again (a snapshot from the leader replaced it). */
  reload(): void {
    this.offsets.clear();
    if (!existsSync(this.path)) return;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.path, "utf8"));
    } catch (err) {
      throw new LanceError("LNC_BAD_METADATA", `${this.path} is not valid JSON (${(err as Error).message}); fix or remove it (consumers then restart from their own offsets)`);
    }
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (typeof v === "string") this.offsets.set(k, v);
  }

  get(topicId: number, consumerId: bigint): bigint | null {
    const v = this.offsets.get(`${topicId}/${consumerId}`);
    return v === undefined ? null : BigInt(v);
  }

  commit(topicId: number, consumerId: bigint, offset: bigint): void {
    this.offsets.set(`${topicId}/${consumerId}`, offset.toString());
    this.save();
  }

  forget(topicId: number): void {
    for (const k of [...this.offsets.keys()]) if (k.startsWith(`${topicId}/`)) this.offsets.delete(k);
    this.save();
  }

  private save(): void {
    writeFileAtomic(this.path, JSON.stringify(Object.fromEntries(this.offsets), null, 2));
  }
}
