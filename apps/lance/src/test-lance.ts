import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FrameDecoder, decodeMessage, encodeMessage, type ClientMessage, type LwpMessage } from "@lance/protocol";

export const LANCE = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");

export interface RunningLance {
  proc: ChildProcess;
  port: number;
  logs: string[];
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every `lance` a test started and did not stop (a failed assertion must not leak servers). */
export function killAllLance(): void {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
}

/** Starts the built `lance` binary on free ports and waits for its "lance ready" log line. */
export function startLance(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningLance> {
  const proc = spawn(process.execPath, [LANCE, "--listen", "127.0.0.1:0", "--health", "off", "--metrics", "off", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(proc);
  const logs: string[] = [];
  const exited = new Promise<number | null>((r) =>
    proc.on("exit", (code) => {
      running.delete(proc);
      r(code);
    }),
  );
  return new Promise((resolve, reject) => {
    let buf = "";
    const onLine = (line: string) => {
      logs.push(line);
      try {
        const j = JSON.parse(line) as { msg?: string; listen?: { port: number } };
        if (j.msg === "lance ready" && j.listen) resolve({ proc, port: j.listen.port, logs, exited });
      } catch {
        /* not a JSON log line */
      }
    };
    proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    proc.stderr!.on("data", (d: Buffer) => logs.push(d.toString()));
    void exited.then((code) => reject(new Error(`lance exited with ${code} before it was ready:\n${logs.join("\n")}`)));
  });
}

/** A bare LWP connection: pipelined requests, replies in order. */
export class Wire {
  private readonly decoder = new FrameDecoder();
  private readonly waiting: Array<{ resolve: (m: LwpMessage) => void; reject: (e: Error) => void }> = [];

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk) => {
      for (const f of this.decoder.push(chunk)) this.waiting.shift()?.resolve(decodeMessage(f));
    });
    socket.on("close", () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error("connection closed"));
    });
    socket.on("error", () => undefined);
  }

  static open(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new Wire(s)));
      s.once("error", reject);
    });
  }

  request(msg: ClientMessage): Promise<LwpMessage> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(encodeMessage(msg));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
