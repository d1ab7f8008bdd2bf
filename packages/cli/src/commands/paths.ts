import { existsSync, statSync } from "node:fs";
import { LanceError } from "@lance/segment-format";

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new LanceError("LNC_NOT_FOUND", `${what} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new LanceError("LNC_BAD_ARGUMENT", `${path} is a directory; expected a ${what} file`);
}

export function requireDir(path: string, what: string): void {
  if (!existsSync(path)) throw new LanceError("LNC_NOT_FOUND", `${what} ${path} does not exist`);
  if (!statSync(path).isDirectory()) throw new LanceError("LNC_BAD_ARGUMENT", `${path} is a file; expected a ${what} directory`);
}
