/** JSON with bigints as decimal strings (timestamps in ns exceed 2^53). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)} ${units[u]}`;
}

/** ISO-8601 UTC with nanoseconds, or the raw number when it is not a plausible wall-clock time. */
export function formatTimestamp(ns: bigint | null): string {
  if (ns === null) return "-";
  const ms = ns / 1_000_000n;
  // Before 2001 or past the Date range: not a wall-clock time (a producer sent something else).
  if (ms < 1_000_000_000_000n || ms > 8_640_000_000_000n) return `${ns} ns`;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}Z`;
}

export function formatRange(first: number | null, next: number | null): string {
  if (first === null || next === null || next <= first) return "(empty)";
  return `${first}..${next - 1}`;
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
}
