import pino from "pino";

/** The logging surface the server uses: pino's, so an embedder can pass its own pino logger. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

export function defaultLogger(level = "info"): Logger {
  return pino({ level, base: { target: "lance" } }) as unknown as Logger;
}
