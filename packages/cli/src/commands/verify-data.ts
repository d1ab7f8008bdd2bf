import { basename } from "node:path";
import { verifyTopic, type VerifyReport } from "@lance/index";
import { formatBytes, formatRange, toJson } from "../format.js";
import { EXIT_OK, EXIT_PROBLEM, type CommandIO } from "../io.js";
import { byteProgress } from "../progress.js";
import { resolveTopicDir } from "./topics.js";

export interface VerifyDataOptions {
  path: string;
  topic: string;
  failFast?: boolean;
  json?: boolean;
}

export function runVerifyData(opts: VerifyDataOptions, io: CommandIO): number {
  const dir = resolveTopicDir(opts.path, opts.topic);
  const progress = byteProgress(io, "verifying", !opts.json);
  const report = verifyTopic(dir, { failFast: Boolean(opts.failFast), onProgress: progress.update });
  progress.stop();
  io.out(opts.json ? toJson({ topic: opts.topic, ...report }) : renderVerify(opts.topic, report));
  return report.ok ? EXIT_OK : EXIT_PROBLEM;
}

export function renderVerify(topic: string, r: VerifyReport): string {
  const lines = [`Verifying topic ${topic} at ${r.topicDir}`];
  for (const s of r.segments) {
    lines.push(`  ${s.ok ? "✓" : "✗"} ${basename(s.file)}  ${s.state}, ${s.batches} batches, ${s.records} records, offsets ${formatRange(s.firstOffset, s.nextOffset)}, ${formatBytes(s.sizeBytes)}`);
  }
  if (r.issues.length > 0) {
    lines.push("", "Problems:");
    for (const i of r.issues) {
      const where = i.position === undefined ? i.file : `${i.file} at byte ${i.position}`;
      lines.push(`  ${i.severity === "error" ? "ERROR  " : "WARNING"} ${where}`, `          ${i.code}: ${i.message}`);
    }
  }
  const okSegments = r.segments.filter((s) => s.ok).length;
  lines.push(
    "",
    "Verification summary:",
    `  Segments:  ${okSegments}/${r.totals.segments} OK`,
    `  Batches:   ${r.totals.batches}`,
    `  Records:   ${r.totals.records}`,
    `  Bytes:     ${r.totals.bytes} (${formatBytes(r.totals.bytes)})`,
    `  Errors:    ${r.totals.errors}`,
    `  Warnings:  ${r.totals.warnings}`,
    "",
  );
  if (r.stoppedEarly) lines.push("✗ Stopped at the first error (--fail-fast)");
  else if (r.ok) lines.push(r.totals.warnings ? `✓ All data verified (${r.totals.warnings} warning${r.totals.warnings > 1 ? "s" : ""})` : "✓ All data verified");
  else lines.push(`✗ Verification failed with ${r.totals.errors} error${r.totals.errors > 1 ? "s" : ""}`);
  return lines.join("\n");
}
