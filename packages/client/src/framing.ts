import { ClientError } from "./errors.js";

/**
 * Record framing inside an ingest payload. The server stores payloads opaquely; this is the
 * convention between our Producer and Consumer, and it is upstream's TLV (lnc-client
 * `encode_record`, used by lnc-chaos): `type u8 | length u32 LE | value`, back to back.
 */
export const TLV_HEADER_SIZE = 5;

/** Upstream's RecordType::Data. Our Producer tags every record with it. */
export const RECORD_TYPE_DATA = 0x01;

export interface TlvRecord {
  type: number;
  /** A view into the fetched data (not a copy). */
  value: Uint8Array;
}

/** Concatenates the records as TLV, all with type `type`. */
export function encodeTlv(values: readonly Uint8Array[], type: number = RECORD_TYPE_DATA): Uint8Array {
  const total = values.reduce((n, v) => n + TLV_HEADER_SIZE + v.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const v of values) {
    out[at] = type;
    view.setUint32(at + 1, v.byteLength, true);
    out.set(v, at + TLV_HEADER_SIZE);
    at += TLV_HEADER_SIZE + v.byteLength;
  }
  return out;
}

/** Splits `data` into TLV records; it must end exactly at a record boundary. */
export function decodeTlv(data: Uint8Array): TlvRecord[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const records: TlvRecord[] = [];
  let at = 0;
  while (at < data.byteLength) {
    if (data.byteLength - at < TLV_HEADER_SIZE) {
      throw new ClientError("LNC_CLIENT_FRAMING", `TLV record header cut short at byte ${at} of ${data.byteLength}`);
    }
    const length = view.getUint32(at + 1, true);
    const end = at + TLV_HEADER_SIZE + length;
    if (end > data.byteLength) {
      throw new ClientError("LNC_CLIENT_FRAMING", `TLV record at byte ${at} claims ${length} bytes but only ${data.byteLength - at - TLV_HEADER_SIZE} follow`);
    }
    records.push({ type: data[at]!, value: data.subarray(at + TLV_HEADER_SIZE, end) });
    at = end;
  }
  return records;
}
