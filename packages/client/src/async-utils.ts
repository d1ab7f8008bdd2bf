import { ClientError } from "./errors.js";

/** A counting semaphore whose waiters are served in arrival order. */
export class Slots {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  get free(): number {
    return this.limit - this.used;
  }

  tryAcquire(): boolean {
    if (this.used >= this.limit) return false;
    this.used++;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    // The slot passes straight to the next waiter, so `used` does not change.
    if (next) next();
    else this.used--;
  }
}

/** Resolves after `ms`, or rejects with LNC_CLIENT_CLOSED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ClientError("LNC_CLIENT_CLOSED", "closed while waiting"));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ClientError("LNC_CLIENT_CLOSED", "closed while waiting"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface BackoffOptions {
  /** First delay. */
  baseDelayMs: number;
  /** Cap on any delay. */
  maxDelayMs: number;
}

/** `base × 2^(attempt−1)`, capped, with up to 20% jitter so that many clients do not retry in step. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const raw = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.2 * random()));
}
