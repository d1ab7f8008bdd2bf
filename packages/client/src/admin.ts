import type { ClusterStatus, Retention, TopicInfo, TopicResponseBody } from "@lance/protocol";
import type { LanceClient } from "./client.js";
import { ClientError, isClientError } from "./errors.js";

export type { ClusterStatus, Retention, TopicInfo };

export interface TopicWithRetention extends TopicInfo {
  /** Present when the server reported it (create with retention). */
  retention?: Retention;
}

export interface RetentionInput {
  /** 0 = no age limit. */
  maxAgeSecs: bigint | number;
  /** 0 = no size limit. */
  maxBytes: bigint | number;
}

const TOPIC_NAME = /^[A-Za-z0-9-]+$/;

/** Topic management and cluster status. Every call is retried like any other (`LanceClient.call`). */
export class Admin {
  constructor(private readonly client: LanceClient) {}

  /** Creates a topic; fails with LNC_CLIENT_SERVER_ERROR if the name is taken. */
  async createTopic(name: string, retention?: RetentionInput): Promise<TopicWithRetention> {
    checkTopicName(name);
    const body = await this.client.call((c) =>
      c.topicCommand(
        retention
          ? { type: "createTopicWithRetention", name, maxAgeSecs: BigInt(retention.maxAgeSecs), maxBytes: BigInt(retention.maxBytes) }
          : { type: "createTopic", name },
      ),
    );
    return topicOf(body, "create topic");
  }

  /**
   * Creates the topic, or returns the existing one of that name (its retention is left as it
   * is). Upstream clients' `create_topic` behaves the same way.
   */
  async ensureTopic(name: string, retention?: RetentionInput): Promise<TopicWithRetention> {
    try {
      return await this.createTopic(name, retention);
    } catch (err) {
      if (!isClientError(err) || err.retryable) throw err;
      const existing = (await this.listTopics()).find((t) => t.name === name);
      if (existing) return existing;
      throw err;
    }
  }

  async deleteTopic(topicId: number): Promise<void> {
    const body = await this.client.call((c) => c.topicCommand({ type: "deleteTopic", topicId }));
    if (body.kind !== "deleted") throw unexpected("delete topic", body);
  }

  async listTopics(): Promise<TopicInfo[]> {
    const body = await this.client.call((c) => c.topicCommand({ type: "listTopics" }));
    if (body.kind !== "topics") throw unexpected("list topics", body);
    return body.topics;
  }

  async getTopic(topicId: number): Promise<TopicWithRetention> {
    return topicOf(await this.client.call((c) => c.topicCommand({ type: "getTopic", topicId })), "get topic");
  }

  async setRetention(topicId: number, retention: RetentionInput): Promise<Retention> {
    const body = await this.client.call((c) =>
      c.topicCommand({ type: "setRetention", topicId, maxAgeSecs: BigInt(retention.maxAgeSecs), maxBytes: BigInt(retention.maxBytes) }),
    );
    if (body.kind !== "retention") throw unexpected("set retention", body);
    return body.retention;
  }

  async clusterStatus(): Promise<ClusterStatus> {
    return this.client.call((c) => c.clusterStatus());
  }

  /** The offset one past the last record of the topic. */
  async endOffset(topicId: number): Promise<bigint> {
    return this.client.call((c) => c.endOffset(topicId));
  }

  /**
   * Finds a topic by name, or else by id when `nameOrId` is all digits (a name wins: `7` is
   * first looked up as a name, since digits are a valid topic name).
   */
  async resolveTopic(nameOrId: string): Promise<TopicInfo> {
    const topics = await this.listTopics();
    const byName = topics.find((t) => t.name === nameOrId);
    if (byName) return byName;
    if (/^\d+$/.test(nameOrId)) {
      const byId = topics.find((t) => t.id === Number(nameOrId));
      if (byId) return byId;
    }
    throw new ClientError(
      "LNC_CLIENT_TOPIC_NOT_FOUND",
      `topic ${JSON.stringify(nameOrId)} not found on ${this.client.server}` + (topics.length ? ` (topics: ${topics.map((t) => t.name).join(", ")})` : " (no topics)"),
    );
  }
}

function checkTopicName(name: string): void {
  if (!TOPIC_NAME.test(name)) {
    throw new ClientError("LNC_CLIENT_BAD_ARGUMENT", `topic names are letters, digits and dashes, got ${JSON.stringify(name)}`);
  }
}

function topicOf(body: TopicResponseBody, what: string): TopicWithRetention {
  if (body.kind !== "topic") throw unexpected(what, body);
  return body.retention ? { ...body.topic, retention: body.retention } : body.topic;
}

function unexpected(what: string, body: TopicResponseBody): ClientError {
  return new ClientError("LNC_CLIENT_UNEXPECTED_REPLY", `${what}: the server answered with a "${body.kind}" body`);
}
