import type { Sleep } from "./client-options.js";

/**
 * Bounds the writes one client has in flight (the `writesInFlightMax` option), so that
 * a burst cannot leave more unacknowledged results in a session than a shard keeps
 * (1,024 by default). A write beyond the bound waits for a slot, first come first served.
 */
export class WriteSlots {
  private used = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly max: number) {}

  /** Writes holding a slot. */
  get inUse(): number {
    return this.used;
  }

  /** Writes waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Takes a slot, waiting at most waitMs (through sleep) for one to free. Resolves true
   * when the slot is taken (release it once), false when the wait ran out or signal
   * aborted first.
   */
  async acquire(waitMs: number, sleep: Sleep, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.used < this.max && this.waiters.length === 0) {
      this.used++;
      return true;
    }
    if (waitMs <= 0 || signal?.aborted) return false;
    let granted = false;
    const stopWaiting = new AbortController();
    const onAbort = () => stopWaiting.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const waiter = () => {
      granted = true;
      stopWaiting.abort();
    };
    this.waiters.push(waiter);
    try {
      await sleep(waitMs, stopWaiting.signal);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (granted) return true;
    this.waiters.splice(this.waiters.indexOf(waiter), 1);
    return false;
  }

  /** Frees a slot, handing it to the longest waiting write if there is one. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.used--;
  }
}
