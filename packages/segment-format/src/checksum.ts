import { createCRC32 } from "hash-wasm";

/**
 * The one checksum function of the storage stack: CRC-32C (Castagnoli, reflected
 * polynomial 0x82F63B78). Every file format of ours calls this and nothing else, so the
 * backend (today hash-wasm's WebAssembly build) can be swapped in one place.
 *
 * hash-wasm instantiates its module asynchronously; a top-level await keeps `crc32c`
 * synchronous for callers, which matters on the scan and append hot paths.
 */
const CASTAGNOLI = 0x82f63b78;
const hasher = await createCRC32(CASTAGNOLI);

/** CRC-32C of the concatenation of `parts`. `crc32c(ascii("123456789")) === 0xe3069283`. */
export function crc32c(...parts: Uint8Array[]): number {
  hasher.init();
  for (const part of parts) hasher.update(part);
  const d = hasher.digest("binary");
  return ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
}
