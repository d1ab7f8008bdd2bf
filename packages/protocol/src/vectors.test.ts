import { describe, expect, it } from "vitest";
import * as zlib from "node:zlib";
import { crc32, resolveCrc32 } from "./crc.js";
import { Flag, HEADER_SIZE } from "./constants.js";
import { classifyFrame, headerCrc, parseHeader } from "./header.js";
import { decodeFrame, encodeFrame } from "./frame.js";
import { decodeMessage, encodeMessage } from "./message-codec.js";
import { ProtocolError } from "./errors.js";
import { ascii, hex, toHex } from "./test-helpers.js";

// protocol.md §8, byte for byte.
const INGEST = hex(`
4C 41 4E 43 01 04 00 00 3A F0 D8 6C 01 00 00 00
00 00 00 00 00 00 2A 36 FE 9C 97 17 02 00 00 00
14 00 00 00 AC AD CC F2 01 00 00 00 01 05 00 00
00 68 65 6C 6C 6F 01 05 00 00 00 77 6F 72 6C 64`);
const ACK = hex(`
4C 41 4E 43 01 08 00 00 5E 09 C2 65 01 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00`);
const FETCH = hex(`
4C 41 4E 43 01 40 00 00 26 D5 4B 1B 10 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
10 00 00 00 85 EB C8 5B 00 00 00 00 01 00 00 00
00 00 00 00 00 00 00 00 00 00 01 00`);
const FETCH_RESPONSE = hex(`
4C 41 4E 43 01 40 00 00 26 D5 4B 1B 11 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
24 00 00 00 BC FE 13 D2 00 00 00 00 14 00 00 00
00 00 00 00 14 00 00 00 01 00 00 00 01 05 00 00
00 68 65 6C 6C 6F 01 05 00 00 00 77 6F 72 6C 64`);
const CATCHING_UP = hex(`
4C 41 4E 43 01 40 00 00 26 D5 4B 1B 12 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
08 00 00 00 B8 E0 D3 9D 00 00 00 00 14 00 00 00
00 00 00 00`);
const KEEPALIVE = hex(`4C 41 4E 43 01 20 00 00 06 1E 9C 53 ${"00 ".repeat(32)}`);
const RECORDS = hex("01 05 00 00 00 68 65 6C 6C 6F 01 05 00 00 00 77 6F 72 6C 64");

describe("CRC-32/ISO-HDLC", () => {
  it("has the check values of protocol.md §1.4", () => {
    expect(crc32(ascii("123456789"))).toBe(0xcbf43926);
    expect(crc32(ascii("hello"))).toBe(0x3610a686);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(RECORDS)).toBe(0xf2ccadac);
    expect(crc32(RECORDS.subarray(7), crc32(RECORDS.subarray(0, 7)))).toBe(0xf2ccadac);
  });

  it("is not Castagnoli", () => {
    expect(crc32(ascii("123456789"))).not.toBe(0xe3069283);
  });

  it("refuses to run without zlib.crc32, naming the Node version needed", () => {
    expect(() => resolveCrc32({})).toThrow(expect.objectContaining({ code: "LNC_PROTO_CRC_UNAVAILABLE" }));
    expect(() => resolveCrc32({ crc32: 42 })).toThrow(/Node >= 20\.15/);
    expect(resolveCrc32(zlib as { crc32?: unknown })).toBe(zlib.crc32);
  });
});

describe("header CRC constants (protocol.md §1.2)", () => {
  const table: Array<[number, number, string]> = [
    [0x00, 0x6bd158e6, "E6 58 D1 6B"],
    [0x04, 0x6cd8f03a, "3A F0 D8 6C"],
    [0x05, 0x6d1a9a0d, "0D 9A 1A 6D"],
    [0x08, 0x65c2095e, "5E 09 C2 65"],
    [0x10, 0x77f7fb96, "96 FB F7 77"],
    [0x20, 0x539c1e06, "06 1E 9C 53"],
    [0x40, 0x1b4bd526, "26 D5 4B 1B"],
  ];
  it.each(table)("flags 0x%s", (flags, crc, bytes) => {
    expect(headerCrc(flags)).toBe(crc);
    const frame = encodeFrame({ flags });
    expect(toHex(frame.subarray(8, 12))).toBe(bytes);
    expect(parseHeader(frame).headerCrc).toBe(crc);
  });
});

describe("§8 worked example", () => {
  it("encodes the ingest frame byte for byte and decodes its fields", () => {
    const msg = {
      type: "ingest" as const,
      batchId: 1n,
      timestampNs: 1_700_000_000_000_000_000n,
      recordCount: 2,
      topicId: 1,
      payload: RECORDS,
      compressed: false,
    };
    expect(toHex(encodeMessage(msg))).toBe(toHex(INGEST));
    const frame = decodeFrame(INGEST);
    expect(frame.header).toEqual({
      version: 1,
      flags: 0x04,
      reserved: 0,
      headerCrc: 0x6cd8f03a,
      batchId: 1n,
      timestampNs: 0x17979cfe362a0000n,
      recordCount: 2,
      payloadLength: 20,
      payloadCrc: 0xf2ccadac,
      topicId: 1,
    });
    expect(classifyFrame(frame.header)).toBe("ingest");
    expect(decodeMessage(frame)).toEqual(msg);
  });

  it("encodes and decodes the ack", () => {
    expect(toHex(encodeMessage({ type: "ack", batchId: 1n }))).toBe(toHex(ACK));
    expect(decodeMessage(decodeFrame(ACK))).toEqual({ type: "ack", batchId: 1n });
  });

  it("encodes and decodes the fetch", () => {
    const msg = { type: "fetch" as const, topicId: 1, startOffset: 0n, maxBytes: 65536 };
    expect(toHex(encodeMessage(msg))).toBe(toHex(FETCH));
    const frame = decodeFrame(FETCH);
    expect(frame.header.payloadCrc).toBe(0x5bc8eb85);
    expect(frame.header.batchId).toBe(0x10n);
    expect(decodeMessage(frame)).toEqual(msg);
  });

  it("encodes and decodes the fetch response", () => {
    const msg = { type: "fetchResponse" as const, nextOffset: 20n, recordCount: 1, data: RECORDS };
    expect(toHex(encodeMessage(msg))).toBe(toHex(FETCH_RESPONSE));
    const frame = decodeFrame(FETCH_RESPONSE);
    expect(frame.header.payloadCrc).toBe(0xd213febc);
    expect(frame.header.payloadLength).toBe(36);
    expect(decodeMessage(frame)).toEqual(msg);
  });

  it("encodes the empty fetch response at the end", () => {
    const bytes = encodeMessage({ type: "fetchResponse", nextOffset: 20n, recordCount: 0, data: new Uint8Array(0) });
    expect(toHex(bytes.subarray(HEADER_SIZE))).toBe("14 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    expect(decodeMessage(decodeFrame(bytes))).toEqual({ type: "fetchResponse", nextOffset: 20n, recordCount: 0, data: new Uint8Array(0) });
  });

  it("encodes and decodes catching-up", () => {
    expect(toHex(encodeMessage({ type: "catchingUp", serverOffset: 20n }))).toBe(toHex(CATCHING_UP));
    const frame = decodeFrame(CATCHING_UP);
    expect(frame.header.payloadCrc).toBe(0x9dd3e0b8);
    expect(decodeMessage(frame)).toEqual({ type: "catchingUp", serverOffset: 20n });
  });

  it("encodes the keepalive of §2.3", () => {
    expect(toHex(encodeMessage({ type: "keepalive" }))).toBe(toHex(KEEPALIVE));
  });
});

describe("flag precedence (§1.3)", () => {
  const kind = (flags: number, payloadLength = 0) => classifyFrame({ flags, payloadLength });
  it("classifies by the first matching bit", () => {
    expect(kind(0x40 | 0x20 | 0x08 | 0x04)).toBe("control");
    expect(kind(0x20 | 0x08)).toBe("keepalive");
    expect(kind(0x24)).toBe("keepalive");
    expect(kind(0x08 | 0x10 | 0x04)).toBe("ack");
    expect(kind(0x10 | 0x04)).toBe("backpressure");
    expect(kind(0x04)).toBe("ingest");
    expect(kind(0x05)).toBe("ingest");
    expect(kind(0x00, 1)).toBe("ingest");
    expect(kind(0x01, 3)).toBe("ingest");
    expect(kind(0x00)).toBe("unknown");
    expect(kind(0x80 | 0x02 | 0x01)).toBe("unknown");
  });

  it("looks only at the low byte of batch_id for the command", () => {
    const frame = encodeFrame({ flags: Flag.Control, batchId: 0xabcdef00_00000103n });
    expect(decodeMessage(decodeFrame(frame))).toEqual({ type: "listTopics" });
  });

  it("answers a keepalive with extra bits, reserved bytes and a stray payload CRC as a keepalive", () => {
    const odd = encodeFrame({ flags: 0x24, reserved: 0x1234 });
    odd[36] = 0x99;
    expect(decodeMessage(decodeFrame(odd))).toEqual({ type: "keepalive" });
  });
});

describe("decodeFrame", () => {
  it("reports each kind of damage with its code", () => {
    const code = (bytes: Uint8Array, max?: number) => {
      try {
        decodeFrame(bytes, max);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        return (err as ProtocolError).code;
      }
      return "ok";
    };
    const flip = (i: number) => {
      const b = Uint8Array.from(INGEST);
      b[i]! ^= 0x01;
      return b;
    };
    expect(code(INGEST)).toBe("ok");
    expect(code(flip(0))).toBe("LNC_PROTO_BAD_MAGIC");
    expect(code(flip(4))).toBe("LNC_PROTO_BAD_VERSION");
    expect(code(flip(5))).toBe("LNC_PROTO_HEADER_CRC");
    expect(code(flip(6))).toBe("LNC_PROTO_HEADER_CRC");
    expect(code(flip(9))).toBe("LNC_PROTO_HEADER_CRC");
    expect(code(flip(50))).toBe("LNC_PROTO_PAYLOAD_CRC");
    expect(code(flip(37))).toBe("LNC_PROTO_PAYLOAD_CRC");
    expect(code(INGEST, 19)).toBe("LNC_PROTO_FRAME_TOO_LARGE");
    expect(code(INGEST, 20)).toBe("ok");
    expect(code(INGEST.subarray(0, 63))).toBe("LNC_PROTO_TRUNCATED");
    expect(code(INGEST.subarray(0, 43))).toBe("LNC_PROTO_TRUNCATED");
    // Bytes 12..43 other than the length/CRC are not covered by any CRC, as upstream.
    expect(code(flip(12))).toBe("ok");
  });
});
