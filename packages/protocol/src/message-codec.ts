import { Command, Flag, HEADER_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { type Frame, encodeFrame, encodeFrameHeader } from "./frame.js";
import { classifyFrame } from "./header.js";
import type { LwpMessage } from "./messages.js";
import { checkU16, checkU32, checkU64, utf8, utf8Lossy, view } from "./wire-values.js";

/** Encodes a message as one complete frame (header, payload, both CRCs). */
export function encodeMessage(message: LwpMessage): Uint8Array {
  switch (message.type) {
    case "ingest":
      return encodeFrame(
        {
          flags: Flag.BatchMode | (message.compressed ? Flag.Compressed : 0),
          batchId: message.batchId,
          timestampNs: message.timestampNs,
          recordCount: message.recordCount,
          topicId: message.topicId,
        },
        message.payload,
      );
    case "ack":
      return encodeFrame({ flags: Flag.Ack, batchId: message.batchId });
    case "keepalive":
      return encodeFrame({ flags: Flag.Keepalive });
    case "backpressure":
      return encodeFrame({ flags: Flag.Backpressure });
    case "unknown":
      return encodeFrame({ flags: 0 });
    case "createTopic":
      return control(Command.CreateTopic, utf8(message.name));
    case "deleteTopic":
      return control(Command.DeleteTopic, u32Payload("topicId", message.topicId));
    case "listTopics":
      return control(Command.ListTopics);
    case "getTopic":
      return control(Command.GetTopic, u32Payload("topicId", message.topicId));
    case "setRetention": {
      const p = new Uint8Array(20);
      const v = view(p);
      v.setUint32(0, checkU32("topicId", message.topicId), true);
      v.setBigUint64(4, checkU64("maxAgeSecs", message.maxAgeSecs), true);
      v.setBigUint64(12, checkU64("maxBytes", message.maxBytes), true);
      return control(Command.SetRetention, p);
    }
    case "createTopicWithRetention": {
      const name = utf8(message.name);
      const p = new Uint8Array(2 + name.byteLength + 16);
      const v = view(p);
      v.setUint16(0, checkU16("name length in bytes", name.byteLength), true);
      p.set(name, 2);
      v.setBigUint64(2 + name.byteLength, checkU64("maxAgeSecs", message.maxAgeSecs), true);
      v.setBigUint64(10 + name.byteLength, checkU64("maxBytes", message.maxBytes), true);
      return control(Command.CreateTopicWithRetention, p);
    }
    case "getClusterStatus":
      return control(Command.GetClusterStatus);
    case "authenticate":
      return control(Command.Authenticate, message.token);
    case "authenticateResponse": {
      const text = utf8(message.message);
      const p = new Uint8Array(1 + text.byteLength);
      p[0] = message.ok ? 1 : 0;
      p.set(text, 1);
      return control(Command.AuthenticateResponse, p);
    }
    case "fetch": {
      const p = new Uint8Array(16);
      const v = view(p);
      v.setUint32(0, checkU32("topicId", message.topicId), true);
      v.setBigUint64(4, checkU64("startOffset", message.startOffset), true);
      v.setUint32(12, checkU32("maxBytes", message.maxBytes), true);
      return control(Command.Fetch, p);
    }
    case "fetchResponse": {
      const parts = encodeFetchResponseParts(message.nextOffset, message.recordCount, [message.data]);
      const out = new Uint8Array(HEADER_SIZE + 16 + message.data.byteLength);
      out.set(parts[0]!, 0);
      out.set(message.data, HEADER_SIZE + 16);
      return out;
    }
    case "catchingUp":
      return control(Command.CatchingUp, u64Payload("serverOffset", message.serverOffset));
    case "subscribe": {
      const p = new Uint8Array(24);
      const v = view(p);
      v.setUint32(0, checkU32("topicId", message.topicId), true);
      v.setBigUint64(4, checkU64("startOffset", message.startOffset), true);
      v.setUint32(12, checkU32("maxBatchBytes", message.maxBatchBytes), true);
      v.setBigUint64(16, checkU64("consumerId", message.consumerId), true);
      return control(Command.Subscribe, p);
    }
    case "subscribeAck":
      return control(Command.SubscribeAck, twoU64("consumerId", message.consumerId, "startOffset", message.startOffset));
    case "unsubscribe": {
      const p = new Uint8Array(12);
      const v = view(p);
      v.setUint32(0, checkU32("topicId", message.topicId), true);
      v.setBigUint64(4, checkU64("consumerId", message.consumerId), true);
      return control(Command.Unsubscribe, p);
    }
    case "commitOffset": {
      const p = new Uint8Array(20);
      const v = view(p);
      v.setUint32(0, checkU32("topicId", message.topicId), true);
      v.setBigUint64(4, checkU64("consumerId", message.consumerId), true);
      v.setBigUint64(12, checkU64("offset", message.offset), true);
      return control(Command.CommitOffset, p);
    }
    case "commitAck":
      return control(Command.CommitAck, twoU64("consumerId", message.consumerId, "committedOffset", message.committedOffset));
    case "offsetForTime": {
      const p = new Uint8Array(12);
      const v = view(p);
      v.setUint32(0, checkU32("topicId", message.topicId), true);
      v.setBigUint64(4, checkU64("timestampNs", message.timestampNs), true);
      return control(Command.OffsetForTime, p);
    }
    case "offsetForTimeResponse":
      return control(Command.OffsetForTimeResponse, u64Payload("offset", message.offset));
    case "topicResponse":
      return control(Command.TopicResponse, utf8(message.json));
    case "clusterStatusResponse":
      return control(Command.ClusterStatusResponse, utf8(message.json));
    case "errorResponse":
      return control(Command.ErrorResponse, utf8(message.message));
  }
}

/**
 * A FetchResponse as buffers to write in order: a 60-byte head (frame header and the 16-byte
 * fetch header), then `data` untouched. The server can hand stored batches to the socket
 * without first copying them into one reply buffer.
 */
export function encodeFetchResponseParts(nextOffset: bigint, recordCount: number, data: readonly Uint8Array[]): Uint8Array[] {
  const fetchHeader = new Uint8Array(16);
  const v = view(fetchHeader);
  const dataLength = data.reduce((n, part) => n + part.byteLength, 0);
  v.setBigUint64(0, checkU64("nextOffset", nextOffset), true);
  v.setUint32(8, checkU32("bytes_returned", dataLength), true);
  v.setUint32(12, checkU32("recordCount", recordCount), true);
  const header = encodeFrameHeader({ flags: Flag.Control, batchId: BigInt(Command.FetchResponse) }, [fetchHeader, ...data]);
  const head = new Uint8Array(HEADER_SIZE + 16);
  head.set(header, 0);
  head.set(fetchHeader, HEADER_SIZE);
  return [head, ...data];
}

/**
 * Reads the message a checked frame carries. Throws a non-fatal ProtocolError
 * (`LNC_PROTO_BAD_PAYLOAD`, `LNC_PROTO_UNKNOWN_COMMAND`) whose `replyText` is the
 * ErrorResponse text upstream sends for that case. Where upstream is lenient (short
 * DeleteTopic/GetTopic payloads mean topic 0, bytes past a fixed layout are ignored) so is this.
 */
export function decodeMessage(frame: Frame): LwpMessage {
  const { header, payload } = frame;
  switch (classifyFrame(header)) {
    case "control":
      return decodeControl(Number(header.batchId & 0xffn), payload);
    case "keepalive":
      return { type: "keepalive" };
    case "ack":
      return { type: "ack", batchId: header.batchId };
    case "backpressure":
      return { type: "backpressure" };
    case "ingest":
      return {
        type: "ingest",
        batchId: header.batchId,
        timestampNs: header.timestampNs,
        recordCount: header.recordCount,
        topicId: header.topicId,
        payload,
        compressed: (header.flags & Flag.Compressed) !== 0,
      };
    case "unknown":
      return { type: "unknown" };
  }
}

function decodeControl(code: number, p: Uint8Array): LwpMessage {
  const v = view(p);
  switch (code) {
    case Command.CreateTopic:
      return { type: "createTopic", name: utf8Lossy(p) };
    case Command.DeleteTopic:
      return { type: "deleteTopic", topicId: p.byteLength >= 4 ? v.getUint32(0, true) : 0 };
    case Command.ListTopics:
      return { type: "listTopics" };
    case Command.GetTopic:
      return { type: "getTopic", topicId: p.byteLength >= 4 ? v.getUint32(0, true) : 0 };
    case Command.SetRetention:
      need(p, 20, "Invalid set retention payload");
      return { type: "setRetention", topicId: v.getUint32(0, true), maxAgeSecs: v.getBigUint64(4, true), maxBytes: v.getBigUint64(12, true) };
    case Command.CreateTopicWithRetention: {
      need(p, 18, "Invalid create topic payload");
      const n = v.getUint16(0, true);
      need(p, 2 + n + 16, "Invalid payload length");
      return {
        type: "createTopicWithRetention",
        name: utf8Lossy(p.subarray(2, 2 + n)),
        maxAgeSecs: v.getBigUint64(2 + n, true),
        maxBytes: v.getBigUint64(10 + n, true),
      };
    }
    case Command.GetClusterStatus:
      return { type: "getClusterStatus" };
    case Command.Authenticate:
      return { type: "authenticate", token: p };
    case Command.AuthenticateResponse:
      need(p, 1, "Invalid authenticate response payload");
      return { type: "authenticateResponse", ok: p[0] !== 0, message: utf8Lossy(p.subarray(1)) };
    case Command.Fetch:
      need(p, 1, "Fetch request payload required");
      need(p, 16, "Protocol error: Fetch request payload too small");
      return { type: "fetch", topicId: v.getUint32(0, true), startOffset: v.getBigUint64(4, true), maxBytes: v.getUint32(12, true) };
    case Command.FetchResponse: {
      need(p, 16, "Fetch response too small");
      const bytesReturned = v.getUint32(8, true);
      if (bytesReturned !== p.byteLength - 16) {
        throw badPayload(`Fetch response says ${bytesReturned} bytes_returned but carries ${p.byteLength - 16}`);
      }
      return { type: "fetchResponse", nextOffset: v.getBigUint64(0, true), recordCount: v.getUint32(12, true), data: p.subarray(16) };
    }
    case Command.CatchingUp:
      // As the upstream client: a short payload means offset 0.
      return { type: "catchingUp", serverOffset: p.byteLength >= 8 ? v.getBigUint64(0, true) : 0n };
    case Command.Subscribe:
      need(p, 24, "Invalid subscribe payload");
      return {
        type: "subscribe",
        topicId: v.getUint32(0, true),
        startOffset: v.getBigUint64(4, true),
        maxBatchBytes: v.getUint32(12, true),
        consumerId: v.getBigUint64(16, true),
      };
    case Command.Unsubscribe:
      need(p, 12, "Invalid unsubscribe payload");
      return { type: "unsubscribe", topicId: v.getUint32(0, true), consumerId: v.getBigUint64(4, true) };
    case Command.CommitOffset:
      need(p, 20, "Invalid commit offset payload");
      return { type: "commitOffset", topicId: v.getUint32(0, true), consumerId: v.getBigUint64(4, true), offset: v.getBigUint64(12, true) };
    case Command.SubscribeAck:
      need(p, 16, "Invalid subscribe ack payload");
      return { type: "subscribeAck", consumerId: v.getBigUint64(0, true), startOffset: v.getBigUint64(8, true) };
    case Command.CommitAck:
      need(p, 16, "Invalid commit ack payload");
      return { type: "commitAck", consumerId: v.getBigUint64(0, true), committedOffset: v.getBigUint64(8, true) };
    case Command.OffsetForTime:
      need(p, 12, "Invalid offset for time payload");
      return { type: "offsetForTime", topicId: v.getUint32(0, true), timestampNs: v.getBigUint64(4, true) };
    case Command.OffsetForTimeResponse:
      need(p, 8, "Invalid offset for time response payload");
      return { type: "offsetForTimeResponse", offset: v.getBigUint64(0, true) };
    case Command.TopicResponse:
      return { type: "topicResponse", json: utf8Lossy(p) };
    case Command.ClusterStatusResponse:
      return { type: "clusterStatusResponse", json: utf8Lossy(p) };
    case Command.ErrorResponse:
      return { type: "errorResponse", message: utf8Lossy(p) };
    default:
      throw new ProtocolError("LNC_PROTO_UNKNOWN_COMMAND", `unknown control command 0x${code.toString(16).padStart(2, "0")}`, {
        replyText: "Invalid client command",
      });
  }
}

function control(code: number, payload?: Uint8Array): Uint8Array {
  return encodeFrame({ flags: Flag.Control, batchId: BigInt(code) }, payload);
}

function u32Payload(name: string, value: number): Uint8Array {
  const p = new Uint8Array(4);
  view(p).setUint32(0, checkU32(name, value), true);
  return p;
}

function u64Payload(name: string, value: bigint): Uint8Array {
  const p = new Uint8Array(8);
  view(p).setBigUint64(0, checkU64(name, value), true);
  return p;
}

function twoU64(name1: string, value1: bigint, name2: string, value2: bigint): Uint8Array {
  const p = new Uint8Array(16);
  const v = view(p);
  v.setBigUint64(0, checkU64(name1, value1), true);
  v.setBigUint64(8, checkU64(name2, value2), true);
  return p;
}

function need(p: Uint8Array, n: number, replyText: string): void {
  if (p.byteLength < n) throw badPayload(replyText);
}

function badPayload(replyText: string): ProtocolError {
  return new ProtocolError("LNC_PROTO_BAD_PAYLOAD", replyText, { replyText });
}
