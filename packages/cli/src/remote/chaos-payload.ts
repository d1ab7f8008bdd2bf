import { crc32c } from "@lance/segment-format";

/**
 * The self-checking value of one `lnc chaos` record (all integers little-endian):
 *
 * ```
 *  0  magic       4   "LNCH"
 *  4  version     u8  1
 *  5  reserved    3   zero
 *  8  run_id      u64 the producing run (random per run)
 * 16  seq         u64 producer sequence number, from 1, +1 per record
 * 24  ts_micros   u64 send time, µs since the Unix epoch
 * 32  filler_len  u32 bytes after the header
 * 36  crc         u32 CRC-32C of bytes 0..36 and the filler
 * 40  filler      byte i = (seq + i) & 0xFF
 * ```
 */
export const CHAOS_MAGIC = Uint8Array.of(0x4c, 0x4e, 0x43, 0x48); // "LNCH"
export const CHAOS_VERSION = 1;
export const CHAOS_HEADER_SIZE = 40;

export interface ChaosRecord {
  runId: bigint;
  seq: bigint;
  tsMicros: bigint;
  fillerLength: number;
}

export type ChaosDecode = ({ ok: true } & ChaosRecord) | { ok: false; reason: string };

/** One record value of `size` bytes in total (at least the 40-byte header). */
export function encodeChaosPayload(runId: bigint, seq: bigint, size: number, tsMicros: bigint = BigInt(Date.now()) * 1000n): Uint8Array {
  if (!Number.isInteger(size) || size < CHAOS_HEADER_SIZE) throw new RangeError(`chaos record size must be an integer >= ${CHAOS_HEADER_SIZE}, got ${size}`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(CHAOS_MAGIC, 0);
  out[4] = CHAOS_VERSION;
  view.setBigUint64(8, BigInt.asUintN(64, runId), true);
  view.setBigUint64(16, BigInt.asUintN(64, seq), true);
  view.setBigUint64(24, BigInt.asUintN(64, tsMicros), true);
  const fillerLength = size - CHAOS_HEADER_SIZE;
  view.setUint32(32, fillerLength, true);
  const s = Number(seq & 0xffn);
  for (let i = 0; i < fillerLength; i++) out[CHAOS_HEADER_SIZE + i] = (s + i) & 0xff;
  view.setUint32(36, crc32c(out.subarray(0, 36), out.subarray(CHAOS_HEADER_SIZE)), true);
  return out;
}

/** Parses and checks one record value; never throws. */
export function decodeChaosPayload(value: Uint8Array): ChaosDecode {
  if (value.byteLength < CHAOS_HEADER_SIZE) return { ok: false, reason: `${value.byteLength} bytes, shorter than the ${CHAOS_HEADER_SIZE}-byte header` };
  for (let i = 0; i < 4; i++) if (value[i] !== CHAOS_MAGIC[i]) return { ok: false, reason: "bad magic (not a chaos record)" };
  if (value[4] !== CHAOS_VERSION) return { ok: false, reason: `unknown version ${value[4]}` };
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const fillerLength = view.getUint32(32, true);
  if (CHAOS_HEADER_SIZE + fillerLength !== value.byteLength) {
    return { ok: false, reason: `length mismatch: header says ${CHAOS_HEADER_SIZE + fillerLength} bytes, record has ${value.byteLength}` };
  }
  const crc = crc32c(value.subarray(0, 36), value.subarray(CHAOS_HEADER_SIZE));
  if (crc !== view.getUint32(36, true)) return { ok: false, reason: "CRC mismatch" };
  return { ok: true, runId: view.getBigUint64(8, true), seq: view.getBigUint64(16, true), tsMicros: view.getBigUint64(24, true), fillerLength };
}

