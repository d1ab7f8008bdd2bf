import { ProtocolError } from "./errors.js";
import { U32_MAX, U64_MAX } from "./constants.js";

/** Encoders check every value against its field so nothing is silently truncated. */
export function checkU8(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw badArgument(name, value, "u8");
  return value;
}

export function checkU16(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw badArgument(name, value, "u16");
  return value;
}

export function checkU32(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) throw badArgument(name, value, "u32");
  return value;
}

export function checkU64(name: string, value: bigint): bigint {
  if (typeof value !== "bigint" || value < 0n || value > U64_MAX) throw badArgument(name, value, "u64 (bigint)");
  return value;
}

function badArgument(name: string, value: unknown, type: string): ProtocolError {
  return new ProtocolError("LNC_PROTO_BAD_ARGUMENT", `${name} = ${String(value)} does not fit a ${type} field`);
}

const utf8Encoder = new TextEncoder();
const lossyDecoder = new TextDecoder("utf-8");
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Like upstream's `String::from_utf8_lossy`: invalid sequences become U+FFFD. */
export function utf8Lossy(bytes: Uint8Array): string {
  return lossyDecoder.decode(bytes);
}

/** The text, or null when `bytes` is not valid UTF-8. */
export function utf8Strict(bytes: Uint8Array): string | null {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return null;
  }
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
