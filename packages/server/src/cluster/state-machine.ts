import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { TopicWriter } from "@lance/index";
import { isLanceError } from "@lance/segment-format";
import type { Entry } from "@lance/raft";
import type { ConsumerOffsets } from "../consumer-offsets.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Topic, TopicRegistry } from "../topic-registry.js";
import { decodeCommand, type Command } from "./commands.js";
import { captureSnapshot, type CapturedSnapshot } from "./snapshot.js";

/** What applying one entry produced, handed to the client waiting for it. */
export type ApplyResult = { kind: "ok" } | { kind: "topic"; topic: Topic } | { kind: "error"; message: string };

/**
 * The replicated state: topics and their segments. Every replica applies the same committed
 * entries in the same order and ends with the same records at the same offsets. Applying is
 * idempotent by offset (and by topic id for topic changes), because after a restart the
 * entries after the last checkpoint are applied again.
 */
export class StateMachine {
  private appliedIndex: number;
  private readonly touched = new Set<Topic>();

  constructor(
    private readonly dataDir: string,
    readonly topics: TopicRegistry,
    readonly offsets: ConsumerOffsets,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    applied: number,
  ) {
    this.appliedIndex = applied;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** Applies committed entries in order; returns each normal entry's result by index. */
  async apply(entries: readonly Entry[]): Promise<Map<number, ApplyResult>> {
    const results = new Map<number, ApplyResult>();
    for (const e of entries) {
      if (e.type === "normal") {
        const r = this.applyCommand(decodeCommand(e.data, e.index), e.index);
        if (r instanceof Promise) {
          // Readers run while this waits: they must not see an index ahead of the file.
          this.flushTouched();
          results.set(e.index, await r);
        } else results.set(e.index, r);
      }
      this.appliedIndex = e.index;
    }
    this.flushTouched();
    return results;
  }

  private flushTouched(): void {
    for (const t of this.touched) if (!t.deleting) t.writer.flush();
    this.touched.clear();
  }

  /** Synchronous except for a topic delete (closing its files). */
  private applyCommand(c: Command, index: number): ApplyResult | Promise<ApplyResult> {
    switch (c.kind) {
      case "ingest": {
        const e = c.entry;
        const topic = this.topics.get(e.topicId);
        // A replay after a restart (offsets already stored), or a topic deleted meanwhile.
        if (!topic || e.baseOffset + e.recordCount <= topic.writer.nextOffset) return { kind: "ok" };
        if (e.baseOffset < topic.writer.nextOffset) {
          const message = `entry ${index} (topic ${topic.meta.name}, offsets ${e.baseOffset}..${e.baseOffset + e.recordCount - 1}) overlaps what the segments hold (up to ${topic.writer.nextOffset - 1})`;
          this.log.error({ topic: topic.meta.name, index }, message);
          this.metrics.errors.inc({ type: "apply" });
          return { kind: "error", message };
        }
        topic.writer.append({ payload: e.payload, recordCount: e.recordCount, firstTimestampNs: e.timestampNs, flags: e.flags }, e.baseOffset);
        topic.dirty = true;
        this.touched.add(topic);
        this.metrics.recordsIngested.inc(e.recordCount);
        this.metrics.bytesIngested.inc(e.payload.byteLength);
        return { kind: "ok" };
      }
      case "createTopic": {
        const existing = this.topics.get(c.id);
        if (existing && existing.meta.name === c.name) return { kind: "topic", topic: existing };
        try {
          const t = this.topics.create(c.name, c.retention, { id: c.id, createdAt: c.createdAt });
          this.log.info({ topic: t.meta.name, id: t.meta.id }, "topic created");
          return { kind: "topic", topic: t };
        } catch (err) {
          if (isLanceError(err)) return { kind: "error", message: err.message };
          throw err;
        }
      }
      case "deleteTopic": {
        const t = this.topics.get(c.topicId);
        if (!t) return { kind: "error", message: `Configuration error: Topic ${c.topicId} not found` };
        return this.deleteTopic(t);
      }
      case "commitOffset": {
        if (!this.topics.get(c.topicId)) return { kind: "error", message: "Topic not found" };
        this.offsets.commit(c.topicId, BigInt(c.consumerId), BigInt(c.offset));
        return { kind: "ok" };
      }
      case "setRetention": {
        const t = this.topics.get(c.topicId);
        if (!t) return { kind: "error", message: `Configuration error: Topic ${c.topicId} not found` };
        this.topics.setRetention(t, c.retention);
        return { kind: "ok" };
      }
    }
  }

  private async deleteTopic(t: Topic): Promise<ApplyResult> {
    t.deleting = true;
    this.touched.delete(t);
    await this.topics.remove(t);
    this.offsets.forget(t.meta.id);
    this.log.info({ topic: t.meta.name, id: t.meta.id }, "topic deleted");
    return { kind: "ok" };
  }

  /** Fsyncs every topic changed since the last checkpoint; returns the index now durable in the segments. */
  async syncSegments(): Promise<number> {
    const upTo = this.appliedIndex;
    for (const t of this.topics.all()) {
      if (!t.dirty || t.deleting) continue;
      t.dirty = false;
      try {
        await t.writer.checkpoint();
      } catch (err) {
        t.dirty = true;
        throw err;
      }
    }
    return upTo;
  }

  /** The applied state as a Raft snapshot (see snapshot.ts). */
  capture(index: number, term: number): CapturedSnapshot {
    const topics = this.topics.list();
    for (const t of topics) t.writer.flush();
    return captureSnapshot(index, term, topics.map((t) => ({ dir: t.dir, name: t.meta.name })), this.offsets.path);
  }

  /** After a snapshot replaced the data directory: reopen everything at its index. */
  async reload(index: number): Promise<void> {
    await this.topics.reopen();
    this.offsets.reload();
    this.appliedIndex = index;
  }

  /**
   * A deposed leader's log suffix that the new leader's log replaces. Its ingests may have been
   * acknowledged (replication mode L1), so they are kept under `{data}/divergent/<topic>/` in
   * the segment format, where `lnc export-topic --divergent` reads them (runbook 6.1).
   */
  saveDivergent(entries: readonly Entry[], why: string): void {
    const byTopic = new Map<number, Array<Extract<Command, { kind: "ingest" }>["entry"]>>();
    for (const e of entries) {
      if (e.type !== "normal") continue;
      const c = decodeCommand(e.data, e.index);
      if (c.kind !== "ingest") continue;
      const list = byTopic.get(c.entry.topicId) ?? [];
      list.push(c.entry);
      byTopic.set(c.entry.topicId, list);
    }
    for (const [topicId, ingests] of byTopic) {
      const name = this.topics.get(topicId)?.meta.name ?? `topic-${topicId}`;
      const dir = join(this.dataDir, "divergent", name);
      let writer = openDivergent(dir);
      let records = 0;
      for (const e of ingests) {
        if (e.baseOffset < writer.nextOffset) {
          // An earlier divergence already used these offsets: keep it aside, start a new directory.
          writer.close();
          const aside = `${dir}-${Date.now()}`;
          renameSync(dir, aside);
          this.log.warn({ dir: aside }, "earlier divergent data moved aside");
          writer = openDivergent(dir);
        }
        writer.append({ payload: e.payload, recordCount: e.recordCount, firstTimestampNs: e.timestampNs, flags: e.flags }, e.baseOffset);
        records += e.recordCount;
      }
      writer.sync();
      writer.close();
      this.metrics.divergentRecords.inc(records);
      this.log.warn(
        { topic: name, dir, records, from: ingests[0]!.baseOffset, to: ingests[ingests.length - 1]!.baseOffset + ingests[ingests.length - 1]!.recordCount - 1 },
        `${why}: ${records} records saved to ${dir} (export with lnc export-topic --divergent)`,
      );
    }
  }
}

function openDivergent(dir: string): TopicWriter {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o750 });
  return TopicWriter.open(dir);
}
