import cliProgress from "cli-progress";
import type { CommandIO } from "./io.js";

/**
 * A byte-progress bar on stderr when it is a terminal and the output is for humans;
 * otherwise a no-op. Call `update(done, total)` freely and `stop()` at the end.
 */
export function byteProgress(io: CommandIO, label: string, enabled: boolean): { update: (done: number, total: number) => void; stop: () => void } {
  if (!io.interactive || !enabled) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} MiB`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const mib = (n: number) => Math.ceil(n / (1024 * 1024));
  return {
    update(done, total) {
      if (!started) {
        bar.start(mib(total), 0);
        started = true;
      }
      bar.setTotal(mib(total));
      bar.update(mib(done));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
