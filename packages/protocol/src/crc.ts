import * as zlib from "node:zlib";
import { ProtocolError } from "./errors.js";

type Crc32 = (data: Uint8Array, value?: number) => number;

/**
 * LWP's checksum is CRC-32/ISO-HDLC (IEEE 802.3, zlib): upstream's helper is named `crc32c`
 * but wraps `crc32fast`, which is IEEE, not Castagnoli. Node's `zlib.crc32` is exactly it.
 */
export function resolveCrc32(mod: { crc32?: unknown }): Crc32 {
  if (typeof mod.crc32 !== "function") {
    throw new ProtocolError(
      "LNC_PROTO_CRC_UNAVAILABLE",
      `node:zlib has no crc32 function (Node ${process.versions.node}); @lance/protocol needs Node >= 20.15`,
    );
  }
  return mod.crc32 as Crc32;
}

const zlibCrc32 = resolveCrc32(zlib as { crc32?: unknown });

/**
 * CRC-32/ISO-HDLC of `data`, as an unsigned 32-bit number. `crc32(ascii("123456789")) === 0xcbf43926`.
 * Pass the CRC of what came before as `previous` to checksum a payload held in several parts.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  return zlibCrc32(data, previous) >>> 0;
}
