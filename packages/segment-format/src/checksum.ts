import { createCRC32 } from "hash-wasm";

/**
 * The one checksum function of the storage stack: CRC-32C (Castagnoli, reflected polynomial
 * 0x82F63B78). Every file format of ours calls `crc32c` and nothing else, so the backend can
 * be swapped here alone.
 *
 * Backends, fastest first (bench/segment-bench.mjs measures them):
 * - `native`: @node-rs/crc32 (SSE4.2/ARMv8 CRC instructions; ~4 GB/s on 1 KiB, ~14 GB/s on
 *   large buffers on the dev machine), loaded if its prebuilt binary exists for this platform;
 * - `wasm`: hash-wasm's WebAssembly build (~1.6 GB/s on 1 KiB), always available.
 * `LANCE_CRC32C_BACKEND=wasm` forces the fallback. Module instantiation is asynchronous;
 * a top-level await keeps `crc32c` synchronous for the scan and append hot paths.
 */
type Crc32c = (...parts: Uint8Array[]) => number;

const CASTAGNOLI = 0x82f63b78;

async function wasmBackend(): Promise<Crc32c> {
  const hasher = await createCRC32(CASTAGNOLI);
  return (...parts) => {
    hasher.init();
    for (const part of parts) hasher.update(part);
    const d = hasher.digest("binary");
    return ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
  };
}

async function nativeBackend(): Promise<Crc32c | null> {
  try {
    const mod = (await import("@node-rs/crc32")) as { crc32c?: NativeFn; default?: { crc32c?: NativeFn } };
    const fn = mod.crc32c ?? mod.default?.crc32c;
    if (!fn) return null;
    return (...parts) => {
      if (parts.length === 1) return fn(parts[0]!) >>> 0;
      let crc = 0;
      for (const part of parts) crc = fn(part, crc);
      return crc >>> 0;
    };
  } catch {
    return null;
  }
}
type NativeFn = (input: Uint8Array, initialState?: number) => number;

/** Every backend that loads on this machine, for tests and benchmarks. */
export const checksumBackends: { native: Crc32c | null; wasm: Crc32c } = {
  native: await nativeBackend(),
  wasm: await wasmBackend(),
};

export const checksumBackend: "native" | "wasm" =
  checksumBackends.native && process.env.LANCE_CRC32C_BACKEND !== "wasm" ? "native" : "wasm";

/** CRC-32C of the concatenation of `parts`. `crc32c(ascii("123456789")) === 0xe3069283`. */
export const crc32c: Crc32c = checksumBackend === "native" ? checksumBackends.native! : checksumBackends.wasm;
