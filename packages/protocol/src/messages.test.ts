import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Command, Flag, HEADER_SIZE, U64_MAX } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { decodeFrame, encodeFrame } from "./frame.js";
import { classifyFrame } from "./header.js";
import { decodeMessage, encodeFetchResponseParts, encodeMessage } from "./message-codec.js";
import { type LwpMessage, isClientMessage } from "./messages.js";
import { messageArb } from "./test-arbitraries.js";
import { ascii, concat, toHex } from "./test-helpers.js";

function roundTrip(m: LwpMessage): LwpMessage {
  return decodeMessage(decodeFrame(encodeMessage(m)));
}

function controlFrame(code: number, payload?: Uint8Array): Uint8Array {
  return encodeFrame({ flags: Flag.Control, batchId: BigInt(code) }, payload);
}

function decodeError(bytes: Uint8Array): ProtocolError {
  try {
    decodeMessage(decodeFrame(bytes));
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error("expected a ProtocolError");
}

describe("message round trips", () => {
  it("decode(encode(m)) = m for every message type", () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(roundTrip(m)).toEqual(m);
      }),
      { numRuns: 3000 },
    );
  });

  it("writes the header fields upstream writes for each kind", () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeMessage(m);
        const { header, payload } = decodeFrame(bytes);
        expect(header.reserved).toBe(0);
        expect(header.payloadLength).toBe(bytes.byteLength - HEADER_SIZE);
        if (payload.byteLength === 0) expect(header.payloadCrc).toBe(0);
        const kind = classifyFrame(header);
        if (m.type === "ingest") {
          expect(kind).toBe("ingest");
          expect(header.flags).toBe(m.compressed ? 0x05 : 0x04);
          return;
        }
        expect(header.timestampNs).toBe(0n);
        expect(header.recordCount).toBe(0);
        expect(header.topicId).toBe(0);
        if (kind === "control") {
          expect(header.flags).toBe(Flag.Control);
          expect(header.batchId).toBeLessThanOrEqual(0xffn);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("writes a FetchResponse from parts exactly as from one buffer", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), fc.bigInt({ min: 0n, max: U64_MAX }), fc.nat(), (data, next, count) => {
        const parts = encodeFetchResponseParts(next, count, data);
        expect(parts.slice(1)).toEqual(data);
        expect(parts[0]!.byteLength).toBe(HEADER_SIZE + 16);
        expect(concat(parts)).toEqual(encodeMessage({ type: "fetchResponse", nextOffset: next, recordCount: count, data: concat(data) }));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps u64::MAX exact (the tail sentinel)", () => {
    const m = { type: "fetch" as const, topicId: 7, startOffset: U64_MAX, maxBytes: 1 };
    expect(toHex(encodeMessage(m).subarray(HEADER_SIZE + 4, HEADER_SIZE + 12))).toBe("FF FF FF FF FF FF FF FF");
    expect(roundTrip(m)).toEqual(m);
  });

  it("uses the command codes of protocol.md §2.1, ErrorResponse with batch_id 0xFF", () => {
    const code = (m: LwpMessage) => decodeFrame(encodeMessage(m)).header.batchId;
    expect(code({ type: "createTopic", name: "a" })).toBe(0x01n);
    expect(code({ type: "getClusterStatus" })).toBe(0x07n);
    expect(code({ type: "authenticateResponse", ok: true, message: "Authenticated" })).toBe(0x09n);
    expect(code({ type: "commitAck", consumerId: 1n, committedOffset: 2n })).toBe(0x24n);
    expect(code({ type: "offsetForTime", topicId: 1, timestampNs: 2n })).toBe(0x60n);
    expect(code({ type: "offsetForTimeResponse", offset: 3n })).toBe(0x61n);
    expect(code({ type: "clusterStatusResponse", json: "{}" })).toBe(0x81n);
    expect(code({ type: "errorResponse", message: "x" })).toBe(0xffn);
  });

  it("lays out the fixed payloads as the tables say", () => {
    const payload = (m: LwpMessage) => toHex(encodeMessage(m).subarray(HEADER_SIZE));
    expect(payload({ type: "setRetention", topicId: 2, maxAgeSecs: 3600n, maxBytes: 1n << 32n })).toBe(
      "02 00 00 00 10 0E 00 00 00 00 00 00 00 00 00 00 01 00 00 00",
    );
    expect(payload({ type: "createTopicWithRetention", name: "ab", maxAgeSecs: 1n, maxBytes: 2n })).toBe(
      "02 00 61 62 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00",
    );
    expect(payload({ type: "subscribe", topicId: 1, startOffset: 5n, maxBatchBytes: 9, consumerId: 0x0102n })).toBe(
      "01 00 00 00 05 00 00 00 00 00 00 00 09 00 00 00 02 01 00 00 00 00 00 00",
    );
    expect(payload({ type: "unsubscribe", topicId: 1, consumerId: 3n })).toBe("01 00 00 00 03 00 00 00 00 00 00 00");
    expect(payload({ type: "commitOffset", topicId: 1, consumerId: 3n, offset: 4n })).toBe(
      "01 00 00 00 03 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00",
    );
    expect(payload({ type: "authenticateResponse", ok: false, message: "Invalid token" })).toBe(
      "00 " + toHex(ascii("Invalid token")),
    );
    expect(payload({ type: "deleteTopic", topicId: 0x01020304 })).toBe("04 03 02 01");
  });

  it("sorts client requests from server replies", () => {
    expect(isClientMessage({ type: "fetch", topicId: 1, startOffset: 0n, maxBytes: 1 })).toBe(true);
    expect(isClientMessage({ type: "keepalive" })).toBe(true);
    expect(isClientMessage({ type: "fetchResponse", nextOffset: 0n, recordCount: 0, data: new Uint8Array(0) })).toBe(false);
    expect(isClientMessage({ type: "authenticateResponse", ok: true, message: "" })).toBe(false);
    expect(isClientMessage({ type: "unknown" })).toBe(false);
  });
});

describe("decoding malformed control payloads (non-fatal, upstream reply texts)", () => {
  it.each([
    [Command.SetRetention, 19, "Invalid set retention payload"],
    [Command.CreateTopicWithRetention, 17, "Invalid create topic payload"],
    [Command.Fetch, 0, "Fetch request payload required"],
    [Command.Fetch, 15, "Protocol error: Fetch request payload too small"],
    [Command.Subscribe, 23, "Invalid subscribe payload"],
    [Command.Unsubscribe, 11, "Invalid unsubscribe payload"],
    [Command.CommitOffset, 19, "Invalid commit offset payload"],
    [Command.FetchResponse, 15, "Fetch response too small"],
    [Command.SubscribeAck, 15, "Invalid subscribe ack payload"],
    [Command.CommitAck, 15, "Invalid commit ack payload"],
    [Command.AuthenticateResponse, 0, "Invalid authenticate response payload"],
    [Command.OffsetForTime, 11, "Invalid offset for time payload"],
    [Command.OffsetForTimeResponse, 7, "Invalid offset for time response payload"],
  ])("command 0x%s with %s bytes -> %s", (code, length, text) => {
    const err = decodeError(controlFrame(code, new Uint8Array(length)));
    expect(err.code).toBe("LNC_PROTO_BAD_PAYLOAD");
    expect(err.fatal).toBe(false);
    expect(err.replyText).toBe(text);
  });

  it("rejects a CreateTopicWithRetention whose name length overruns the payload", () => {
    const p = new Uint8Array(18);
    p[0] = 3;
    expect(decodeError(controlFrame(Command.CreateTopicWithRetention, p)).replyText).toBe("Invalid payload length");
  });

  it("rejects a FetchResponse whose bytes_returned disagrees with its data", () => {
    const bytes = encodeMessage({ type: "fetchResponse", nextOffset: 1n, recordCount: 1, data: ascii("abc") });
    const payload = Uint8Array.from(bytes.subarray(HEADER_SIZE));
    payload[8] = 2;
    expect(decodeError(controlFrame(Command.FetchResponse, payload)).code).toBe("LNC_PROTO_BAD_PAYLOAD");
  });

  it("answers unknown commands with 'Invalid client command'", () => {
    for (const code of [0x00, 0x0a, 0x13, 0x25, 0x30, 0x7f, 0x82, 0xfe]) {
      const err = decodeError(controlFrame(code));
      expect(err.code).toBe("LNC_PROTO_UNKNOWN_COMMAND");
      expect(err.replyText).toBe("Invalid client command");
    }
  });

  it("is lenient where upstream is", () => {
    expect(decodeMessage(decodeFrame(controlFrame(Command.DeleteTopic, ascii("ab"))))).toEqual({ type: "deleteTopic", topicId: 0 });
    expect(decodeMessage(decodeFrame(controlFrame(Command.GetTopic)))).toEqual({ type: "getTopic", topicId: 0 });
    expect(decodeMessage(decodeFrame(controlFrame(Command.CatchingUp, ascii("x"))))).toEqual({ type: "catchingUp", serverOffset: 0n });
    const longFetch = concat([encodeMessage({ type: "fetch", topicId: 9, startOffset: 8n, maxBytes: 7 }).subarray(HEADER_SIZE), ascii("junk")]);
    expect(decodeMessage(decodeFrame(controlFrame(Command.Fetch, longFetch)))).toEqual({ type: "fetch", topicId: 9, startOffset: 8n, maxBytes: 7 });
    expect(decodeMessage(decodeFrame(controlFrame(Command.CreateTopic, Uint8Array.of(0x61, 0xff))))).toEqual({
      type: "createTopic",
      name: "a\uFFFD",
    });
  });

  it("hands an Authenticate token over undecoded", () => {
    const token = Uint8Array.of(0xc3, 0x28);
    expect(decodeMessage(decodeFrame(controlFrame(Command.Authenticate, token)))).toEqual({ type: "authenticate", token });
  });

  it("decodes ingest frames without the BatchMode flag but with a payload as ingest", () => {
    const bytes = encodeFrame({ flags: 0, batchId: 5n, topicId: 2, recordCount: 1 }, ascii("x"));
    expect(decodeMessage(decodeFrame(bytes))).toMatchObject({ type: "ingest", batchId: 5n, topicId: 2, compressed: false });
  });
});

describe("encoders refuse values that do not fit", () => {
  const bad = (m: LwpMessage) => () => encodeMessage(m);
  it.each<[string, LwpMessage]>([
    ["negative u32", { type: "getTopic", topicId: -1 }],
    ["u32 overflow", { type: "deleteTopic", topicId: 2 ** 32 }],
    ["fractional", { type: "fetch", topicId: 1.5, startOffset: 0n, maxBytes: 0 }],
    ["u64 overflow", { type: "ack", batchId: U64_MAX + 1n }],
    ["negative u64", { type: "catchingUp", serverOffset: -1n }],
    ["name over u16", { type: "createTopicWithRetention", name: "x".repeat(65536), maxAgeSecs: 0n, maxBytes: 0n }],
  ])("%s", (_, m) => {
    expect(bad(m)).toThrow(expect.objectContaining({ code: "LNC_PROTO_BAD_ARGUMENT" }));
  });
});
