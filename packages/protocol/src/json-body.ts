import { ProtocolError } from "./errors.js";

/**
 * JSON.parse that keeps integers beyond 2^53 exact: outside string literals, integer tokens
 * of 16 or more digits are turned into strings before parsing (see `readU64`).
 */
export function parseJsonBody(text: string, what: string): unknown {
  try {
    return JSON.parse(quoteLongIntegers(text));
  } catch (cause) {
    throw new ProtocolError("LNC_PROTO_BAD_PAYLOAD", `${what} is not valid JSON`, { replyText: `Invalid ${what}`, cause });
  }
}

function quoteLongIntegers(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = /^-?\d+(?![\d.eE])/.exec(text.slice(i, i + 32));
    if (m && m[0].replace("-", "").length >= 16) {
      out += `"${m[0]}"`;
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

export function readNumber(obj: Record<string, unknown>, key: string, what: string): number {
  const v = obj[key];
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  throw bad(`${what}: "${key}" is not a non-negative integer`);
}

export function readU64(obj: Record<string, unknown>, key: string, what: string): bigint {
  const v = obj[key];
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === "string" && /^\d+$/.test(v) && BigInt(v) <= 0xffff_ffff_ffff_ffffn) return BigInt(v);
  throw bad(`${what}: "${key}" is not a u64`);
}

export function readString(obj: Record<string, unknown>, key: string, what: string): string {
  const v = obj[key];
  if (typeof v === "string") return v;
  throw bad(`${what}: "${key}" is not a string`);
}

export function readBoolean(obj: Record<string, unknown>, key: string, what: string): boolean {
  const v = obj[key];
  if (typeof v === "boolean") return v;
  throw bad(`${what}: "${key}" is not a boolean`);
}

/** Serializes `[key, value]` pairs in the given order; bigint values are written as plain integers. */
export function jsonObject(entries: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonValue(v)}`).join(",")}}`;
}

function jsonValue(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  return JSON.stringify(v);
}

function bad(message: string): ProtocolError {
  return new ProtocolError("LNC_PROTO_BAD_PAYLOAD", message, { replyText: message });
}
