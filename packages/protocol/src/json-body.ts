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

const INTEGER = /-?\d+(?![\d.eE])/y;

function quoteLongIntegers(text: string): string {
  let out = "";
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      INTEGER.lastIndex = i;
      const m = INTEGER.exec(text);
      const token = m?.[0] ?? "";
      if (token.replace("-", "").length >= 16) {
        out += `${text.slice(copied, i)}"${token}"`;
        copied = i + token.length;
      }
      // Skip the whole number token, integer or not.
      i++;
      while (i < text.length && /[\d.eE+-]/.test(text[i]!)) i++;
      continue;
    }
    i++;
  }
  return out + text.slice(copied);
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
