import type { CheckOptions } from "./model.js";

/** Search steps between clock reads; reading the clock every step would dominate small searches. */
const STEPS_PER_CLOCK_READ = 256;

/** A time budget read only through an injected clock, so tests can fake time. */
export class Deadline {
  readonly #now: () => number;
  readonly #endMs: number;
  #stepsUntilRead = STEPS_PER_CLOCK_READ;
  #expired = false;

  constructor(options: CheckOptions = {}) {
    const budgetMs = options.timeBudgetMs ?? Number.POSITIVE_INFINITY;
    if (!(budgetMs >= 0)) throw new RangeError(`checkOperations: timeBudgetMs ${budgetMs} must be >= 0`);
    this.#now = options.now ?? (() => performance.now());
    // With no budget the clock is never read at all.
    this.#endMs = budgetMs === Number.POSITIVE_INFINITY ? budgetMs : this.#now() + budgetMs;
  }

  /** Reads the clock now (used between phases and partitions). Sticky once true. */
  expired(): boolean {
    if (!this.#expired && this.#endMs !== Number.POSITIVE_INFINITY) this.#expired = this.#now() > this.#endMs;
    return this.#expired;
  }

  /** Cheap check for inner loops: reads the clock only every STEPS_PER_CLOCK_READ calls. */
  expiredAfterStep(): boolean {
    if (--this.#stepsUntilRead > 0) return this.#expired;
    this.#stepsUntilRead = STEPS_PER_CLOCK_READ;
    return this.expired();
  }
}
