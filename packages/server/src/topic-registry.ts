import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { TopicReader, TopicWriter, type TopicWriterOptions } from "@lance/index";
import {
  LanceError,
  fsyncDir,
  isLanceError,
  readTopicMetadata,
  segmentsDir,
  topicDir,
  topicNameProblem,
  writeTopicMetadata,
  type TopicMetadata,
} from "@lance/segment-format";
import type { Logger } from "./log.js";

/** One open topic: its metadata, the writer that owns its directory, and a reader. */
export interface Topic {
  meta: TopicMetadata;
  dir: string;
  writer: TopicWriter;
  reader: TopicReader;
  /** Next offset handed to an ingest when it is accepted (ahead of the writer until applied). */
  assigned: number;
  /** Set once delete has started: no new ingest is accepted. */
  deleting: boolean;
  /** Appended to since the last checkpoint. */
  dirty: boolean;
}

export interface Retention {
  maxAgeSecs: number | null;
  maxBytes: number | null;
}

/** Topic directories under `{data}/segments/`, loaded at start and changed by admin commands. */
export class TopicRegistry {
  private readonly byId = new Map<number, Topic>();
  private readonly root: string;

  constructor(
    private readonly dataDir: string,
    private readonly writerOptions: TopicWriterOptions,
    private readonly log: Logger,
  ) {
    this.root = segmentsDir(dataDir);
  }

  /** Opens every topic directory (each recovers: torn tails cut, indexes rebuilt). */
  load(): void {
    mkdirSync(this.root, { recursive: true, mode: 0o750 });
    for (const name of readdirSync(this.root).sort()) {
      const dir = join(this.root, name);
      if (!statSync(dir).isDirectory()) continue;
      if (topicNameProblem(name)) {
        // Staging dirs of lnc import-topic (.import-*), legacy numeric dirs, stray names.
        this.log.warn({ dir }, "skipping directory whose name is not a topic name");
        continue;
      }
      let meta: TopicMetadata;
      try {
        meta = readTopicMetadata(dir);
      } catch (err) {
        if (!isLanceError(err)) throw err;
        this.log.warn({ dir, err: err.message }, "skipping directory without readable metadata.json");
        continue;
      }
      if (this.byId.has(meta.id)) {
        throw new LanceError("LNC_BAD_METADATA", `topics ${this.byId.get(meta.id)!.meta.name} and ${meta.name} both have id ${meta.id}; fix one metadata.json`);
      }
      this.byId.set(meta.id, this.openTopic(dir, meta));
    }
  }

  private openTopic(dir: string, meta: TopicMetadata): Topic {
    const log = this.log.child({ topic: meta.name });
    const writer = TopicWriter.open(dir, { ...this.writerOptions, log: (m) => log.warn({ dir }, m) });
    const reader = new TopicReader(dir, { warn: (w) => log.warn({ code: w.code, path: w.path }, w.message), liveIndex: (f) => writer.liveIndex(f), segmentsVersion: () => writer.segmentsVersion });
    return { meta, dir, writer, reader, assigned: writer.nextOffset, deleting: false, dirty: false };
  }

  get(id: number): Topic | undefined {
    const t = this.byId.get(id);
    return t && !t.deleting ? t : undefined;
  }

  byName(name: string): Topic | undefined {
    for (const t of this.byId.values()) if (t.meta.name === name && !t.deleting) return t;
    return undefined;
  }

  list(): Topic[] {
    return [...this.byId.values()].filter((t) => !t.deleting).sort((a, b) => a.meta.id - b.meta.id);
  }

  all(): Topic[] {
    return [...this.byId.values()];
  }

  /** The id a new topic would get: above every id in use (and on disk, for topics imported while running). */
  nextId(): number {
    return Math.max(0, ...this.byId.keys(), ...idsOnDisk(this.root)) + 1;
  }

  /** Checks a create before it is proposed; throws what `create` would. */
  checkCreate(name: string): void {
    const problem = topicNameProblem(name);
    if (problem) throw new LanceError("LNC_BAD_TOPIC_NAME", `Invalid data: ${problem}`);
    if (this.byName(name)) throw new LanceError("LNC_TOPIC_EXISTS", `Topic '${name}' already exists`);
    const dir = topicDir(this.dataDir, name);
    if (existsSync(dir)) throw new LanceError("LNC_TOPIC_EXISTS", `Topic directory ${dir} already exists (being deleted, or not a topic); remove it or pick another name`);
  }

  /** Creates a topic with the id and creation time the proposing leader chose (the same on every replica). */
  create(name: string, retention: Retention | null, fixed: { id: number; createdAt: number }): Topic {
    this.checkCreate(name);
    if (this.byId.has(fixed.id)) throw new LanceError("LNC_TOPIC_EXISTS", `Topic id ${fixed.id} is taken by ${this.byId.get(fixed.id)!.meta.name}`);
    const dir = topicDir(this.dataDir, name);
    const id = fixed.id;
    mkdirSync(dir, { mode: 0o750 });
    const meta: TopicMetadata = {
      id,
      name,
      created_at: fixed.createdAt,
      topic_epoch: 1,
      auth: null,
      retention: toStoredRetention(retention),
    };
    writeTopicMetadata(dir, meta);
    fsyncDir(this.root);
    const topic = this.openTopic(dir, meta);
    this.byId.set(id, topic);
    return topic;
  }

  setRetention(topic: Topic, retention: Retention): void {
    topic.meta = { ...topic.meta, retention: toStoredRetention(retention) };
    writeTopicMetadata(topic.dir, topic.meta);
  }

  /** Removes the topic's directory. The caller first stops ingest to it and checkpoints. */
  async remove(topic: Topic): Promise<void> {
    topic.writer.close();
    await topic.reader.close();
    rmSync(topic.dir, { recursive: true, force: true });
    fsyncDir(this.root);
    this.byId.delete(topic.meta.id);
  }

  async closeAll(): Promise<void> {
    for (const t of this.byId.values()) {
      t.writer.close();
      await t.reader.close();
    }
  }

  /** Closes every topic and opens what is on disk now (after a snapshot replaced `segments/`). */
  async reopen(): Promise<void> {
    await this.closeAll();
    this.byId.clear();
    this.load();
  }
}

/** Retention 0 means "no limit" (upstream deleted everything); stored as null like upstream's absent value. */
function toStoredRetention(r: Retention | null): TopicMetadata["retention"] {
  if (!r) return null;
  const maxAge = r.maxAgeSecs || null;
  const maxBytes = r.maxBytes || null;
  return maxAge === null && maxBytes === null ? null : { max_age_secs: maxAge, max_bytes: maxBytes };
}

/** Ids in every metadata.json under segments/, so a topic imported while running is not reused. */
function idsOnDisk(root: string): number[] {
  const ids: number[] = [];
  for (const name of readdirSync(root)) {
    try {
      ids.push(readTopicMetadata(join(root, name)).id);
    } catch {
      // not a topic directory
    }
  }
  return ids;
}
