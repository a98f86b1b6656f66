import type { Clock } from "./clock.js";

/**
 * The driver's one way to wait for its own state (a leader known, leadership moved,
 * the log replayed): a condition re-checked whenever the driver's state may have
 * changed — after each cycle of Readys, each tick and on close — instead of a loop
 * that polls on a timer of its own. Deadlines are judged on the node's injected clock
 * at those checks, so a wait ends at most one tick after its deadline.
 */
export class StateWaits {
  private readonly waiting = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  /**
   * Resolves true once `holds()` is true, false once `gone()` is (the node closed) or
   * timeoutMs has passed on the clock, whichever comes first. With `fromNextCheck`, the
   * first check is the next notify(): a caller that just acted waits for its effect.
   */
  until(holds: () => boolean, timeoutMs: number, gone: () => boolean, fromNextCheck = false): Promise<boolean> {
    if (!fromNextCheck && holds()) return Promise.resolve(true);
    if (gone() || timeoutMs <= 0) return Promise.resolve(false);
    const deadline = this.clock.monotonicMs() + timeoutMs;
    return new Promise((resolve) => {
      const check = (): void => {
        const outcome = holds() ? true : gone() || this.clock.monotonicMs() >= deadline ? false : undefined;
        if (outcome === undefined) return;
        this.waiting.delete(check);
        resolve(outcome);
      };
      this.waiting.add(check);
    });
  }

  /** The driver's state may have changed: re-checks every wait. */
  notify(): void {
    for (const check of [...this.waiting]) check();
  }

  /** Waits not yet ended. */
  get size(): number {
    return this.waiting.size;
  }
}
