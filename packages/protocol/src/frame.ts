import { DEFAULT_MAX_PAYLOAD_LENGTH, HEADER_SIZE } from "./constants.js";
import { crc32 } from "./crc.js";
import { ProtocolError } from "./errors.js";
import { type FrameHeader, type HeaderFields, parseHeader, writeHeader } from "./header.js";

/** One complete, checked frame. `payload` may be a view into the bytes it was decoded from. */
export interface Frame {
  header: FrameHeader;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Header + payload in one new buffer, with payload length and both CRCs filled in. */
export function encodeFrame(fields: HeaderFields, payload: Uint8Array = EMPTY): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.byteLength);
  // Upstream writes payload_crc 0 for an empty payload, which is also crc32 of nothing.
  writeHeader(out, fields, payload.byteLength, payload.byteLength === 0 ? 0 : crc32(payload));
  out.set(payload, HEADER_SIZE);
  return out;
}

/**
 * Just the 44-byte header of a frame whose payload is `parts` back to back, so a large payload
 * can be written after it (socket.cork + write per part) without being copied into one buffer.
 */
export function encodeFrameHeader(fields: HeaderFields, parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  let length = 0;
  let crc = 0;
  for (const part of parts) {
    length += part.byteLength;
    crc = crc32(part, crc);
  }
  writeHeader(out, fields, length, crc);
  return out;
}

export function checkPayloadLength(header: FrameHeader, maxPayloadLength: number): void {
  if (header.payloadLength > maxPayloadLength) {
    throw new ProtocolError(
      "LNC_PROTO_FRAME_TOO_LARGE",
      `payload length ${header.payloadLength} is over the maximum of ${maxPayloadLength} bytes`,
    );
  }
}

/** As upstream: the payload CRC is checked only when there is a payload. */
export function checkPayloadCrc(header: FrameHeader, payload: Uint8Array): void {
  if (payload.byteLength === 0) return;
  const actual = crc32(payload);
  if (actual !== header.payloadCrc) {
    throw new ProtocolError(
      "LNC_PROTO_PAYLOAD_CRC",
      `payload CRC mismatch: header says 0x${header.payloadCrc.toString(16).padStart(8, "0")}, payload has 0x${actual.toString(16).padStart(8, "0")}`,
    );
  }
}

/**
 * Decodes a buffer that holds exactly one frame, with every check FrameDecoder makes.
 * For streams use FrameDecoder.
 */
export function decodeFrame(bytes: Uint8Array, maxPayloadLength = DEFAULT_MAX_PAYLOAD_LENGTH): Frame {
  const header = parseHeader(bytes);
  checkPayloadLength(header, maxPayloadLength);
  const size = HEADER_SIZE + header.payloadLength;
  if (bytes.byteLength < size) {
    throw new ProtocolError("LNC_PROTO_TRUNCATED", `frame needs ${size} bytes, have ${bytes.byteLength}`);
  }
  if (bytes.byteLength > size) {
    throw new ProtocolError("LNC_PROTO_BAD_ARGUMENT", `buffer holds ${bytes.byteLength - size} bytes after the frame`);
  }
  const payload = bytes.subarray(HEADER_SIZE, size);
  checkPayloadCrc(header, payload);
  return { header, payload };
}
