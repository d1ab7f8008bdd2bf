import { crc32c } from "@lance/segment-format";

/** Reflected CRC-32C (Castagnoli) polynomial, the one `crc32c` uses. */
const POLY = 0x82f63b78;

function matrixTimes(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) {
    if (vec & 1) sum ^= mat[i]!;
  }
  return sum >>> 0;
}

function matrixSquare(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = matrixTimes(mat, mat[n]!);
}

/**
 * CRC-32C of A||B from crc(A), crc(B) and B's length (zlib's crc32_combine, in GF(2)).
 * Lets a part of any size be checksummed in chunks with the fast one-shot `crc32c`.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = POLY;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
  matrixSquare(even, odd);
  matrixSquare(odd, even);
  let crc = crcA >>> 0;
  let len = lengthB;
  for (;;) {
    matrixSquare(even, odd);
    if (len % 2 === 1) crc = matrixTimes(even, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
    matrixSquare(odd, even);
    if (len % 2 === 1) crc = matrixTimes(odd, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}

/** CRC-32C over a stream of chunks; `value` equals `crc32c` of their concatenation. */
export class Crc32cStream {
  private crc = 0;
  private length = 0;

  update(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.crc = this.length === 0 ? crc32c(chunk) : crc32cCombine(this.crc, crc32c(chunk), chunk.byteLength);
    this.length += chunk.byteLength;
  }

  get value(): number {
    return this.crc >>> 0;
  }

  get bytes(): number {
    return this.length;
  }
}
