import { randInt, type Rng } from "../rng.js";
import type { Message, NodeId } from "../types.js";

export interface NetworkFaults {
  /** Probability a message is lost. */
  drop: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Messages take 1..maxDelay ticks; different delays reorder them. */
  maxDelay: number;
}

export interface NetworkStats {
  sent: number;
  dropped: number;
  duplicated: number;
  blocked: number;
}

interface InFlight {
  at: number;
  seq: number;
  msg: Message;
}

/**
 * A simulated network: per-message loss, duplication, delay (hence reordering) and
 * partitions expressed as a set of cut directed links, checked at send and at delivery.
 */
export class SimNetwork {
  faults: NetworkFaults;
  readonly stats: NetworkStats = { sent: 0, dropped: 0, duplicated: 0, blocked: 0 };
  private queue: InFlight[] = [];
  private seq = 0;
  private cut = new Set<string>();
  private readonly rng: Rng;

  constructor(rng: Rng, faults: NetworkFaults) {
    this.rng = rng;
    this.faults = faults;
  }

  private key(from: NodeId, to: NodeId): string {
    return `${from}>${to}`;
  }

  connected(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(this.key(from, to));
  }

  /** Cuts every link between the two groups (both directions). */
  split(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut.add(this.key(x, y));
        this.cut.add(this.key(y, x));
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** The cut links, e.g. "1>3 3>1". */
  describe(): string {
    return [...this.cut].sort().join(" ");
  }

  isPartitioned(): boolean {
    return this.cut.size > 0;
  }

  send(msg: Message, now: number): void {
    this.stats.sent++;
    if (!this.connected(msg.from, msg.to)) {
      this.stats.blocked++;
      return;
    }
    if (this.rng() < this.faults.drop) {
      this.stats.dropped++;
      return;
    }
    this.enqueue(msg, now);
    if (this.rng() < this.faults.duplicate) {
      this.stats.duplicated++;
      this.enqueue(msg, now);
    }
  }

  private enqueue(msg: Message, now: number): void {
    this.queue.push({ at: now + randInt(this.rng, 1, this.faults.maxDelay + 1), seq: this.seq++, msg });
  }

  /** Messages due at `now`, in a shuffled order; partitions also apply to messages already in flight. */
  deliver(now: number): Message[] {
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.queue) (f.at <= now ? due : rest).push(f);
    this.queue = rest;
    for (let i = due.length - 1; i > 0; i--) {
      const j = randInt(this.rng, 0, i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    const out: Message[] = [];
    for (const f of due) {
      if (this.connected(f.msg.from, f.msg.to)) out.push(f.msg);
      else this.stats.blocked++;
    }
    return out;
  }

  inFlight(): number {
    return this.queue.length;
  }
}
