/** Where a command writes; tests and the binary pass their own. */
export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when stderr is a terminal: progress bars are shown only then. */
  interactive: boolean;
}

export const processIO: CommandIO = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
  interactive: Boolean(process.stderr.isTTY),
};

/** Exit codes shared by every command. */
export const EXIT_OK = 0;
/** The data has a problem (verification failed, repair refused, damage found). */
export const EXIT_PROBLEM = 1;
/** The command could not run: bad arguments, missing path, I/O error. */
export const EXIT_USAGE = 2;
