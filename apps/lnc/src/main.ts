#!/usr/bin/env node
import { Command, InvalidArgumentError } from "commander";
import {
  EXIT_USAGE,
  processIO,
  runInspectIndex,
  runListTopicsOffline,
  runRebuildIndex,
  runRepairPath,
  runScanPath,
  runVerifyData,
} from "@lance/cli";

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** Runs a command body; typed errors become one clear line on stderr and exit code 2. */
function action<T>(body: (opts: T) => number | Promise<number>): (opts: T) => Promise<void> {
  return async (opts) => {
    try {
      process.exitCode = await body(opts);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      processIO.err(`Error: ${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ""}`);
      process.exitCode = EXIT_USAGE;
    }
  };
}

const program = new Command()
  .name("lnc")
  .description("LANCE operator CLI: offline data tools (scan, verify, repair, indexes, topics)")
  .version("0.1.0")
  .showHelpAfterError()
  .addHelpText(
    "after",
    "\nExit codes: 0 ok, 1 a problem was found in the data (or a repair was refused), 2 the command could not run.",
  );

program
  .command("scan")
  .description("list the batches of a segment file (or the frames of a WAL file) with their CRC status, record count and offset range")
  .requiredOption("-p, --path <file>", "segment file (.lnc) or WAL file (.wal)")
  .option("-l, --limit <n>", "batches to list (0 = all)", nonNegativeInt, 20)
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; limit: number; json?: boolean }) => runScanPath(o, processIO)));

program
  .command("verify-data")
  .description("verify every segment (batch CRCs, offsets) and index of a topic; exit 1 on any error")
  .requiredOption("-p, --path <data_dir>", "data directory (holds segments/)")
  .requiredOption("-t, --topic <name>", "topic name (or numeric id)")
  .option("--fail-fast", "stop at the first error")
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; topic: string; failFast?: boolean; json?: boolean }) => runVerifyData(o, processIO)));

program
  .command("repair")
  .description("repair the WAL directory or a segment: cut a torn or corrupt tail, keeping a backup of what changes")
  .requiredOption("-p, --path <path>", "WAL directory ({data_dir}/wal) or segment file (.lnc)")
  .option("--dry-run", "show what would change without changing anything")
  .option("--skip-corrupt", "drop only damaged regions and keep the valid batches/entries after them (leaves a gap)")
  .option("--truncate-at-damage", "cut everything from the first damaged byte, valid batches after it included")
  .option("--json", "machine-readable output")
  .action(
    action((o: { path: string; dryRun?: boolean; skipCorrupt?: boolean; truncateAtDamage?: boolean; json?: boolean }) => runRepairPath(o, processIO)),
  );

program
  .command("rebuild-index")
  .description("rebuild every segment .idx and the topic catalog index.idx from the segment files")
  .requiredOption("-p, --path <topic_dir>", "topic directory ({data_dir}/segments/{topic})")
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; json?: boolean }) => runRebuildIndex(o, processIO)));

program
  .command("inspect-index")
  .description("show the entries, coverage and CRC status of a segment .idx or a topic index.idx")
  .requiredOption("-p, --path <file>", "a {segment}.idx or a topic's index.idx")
  .option("-l, --limit <n>", "entries to list (0 = all)", nonNegativeInt, 20)
  .option("--json", "machine-readable output")
  .action(action((o: { path: string; limit: number; json?: boolean }) => runInspectIndex(o, processIO)));

program
  .command("list-topics")
  .description("list the topics of a data directory (offline)")
  .requiredOption("-p, --path <data_dir>", "data directory (holds segments/)")
  .option("--json", "JSON array of topics, each with a name field")
  .action(action((o: { path: string; json?: boolean }) => runListTopicsOffline(o, processIO)));

await program.parseAsync(process.argv);
