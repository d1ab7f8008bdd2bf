/** Wall-clock nanoseconds since the Unix epoch, with sub-millisecond resolution. */
const anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export function nowNs(): bigint {
  return anchorNs + process.hrtime.bigint();
}
