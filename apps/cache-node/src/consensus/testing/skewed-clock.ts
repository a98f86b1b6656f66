import type { Clock } from "../clock.js";

/**
 * A node's clocks for tests: both follow real time at a rate that can be skewed, and the
 * wall clock can also be stepped, as NTP or an operator would step it.
 */
export class SkewedClock implements Clock {
  private rate = 1;
  private realAtMs = performance.now();
  /** Both clocks' readings at realAtMs. */
  private wallAtMs = Date.now();
  private monoAtMs = 0;

  nowMs(): number {
    return this.wallAtMs + this.elapsedMs();
  }

  monotonicMs(): number {
    return this.monoAtMs + this.elapsedMs();
  }

  /** Moves the wall clock by deltaMs at once; the monotonic clock does not notice. */
  stepWall(deltaMs: number): void {
    this.wallAtMs += deltaMs;
  }

  /** From now on both clocks advance `rate` ms per real ms. */
  setRate(rate: number): void {
    const elapsed = this.elapsedMs();
    this.wallAtMs += elapsed;
    this.monoAtMs += elapsed;
    this.realAtMs = performance.now();
    this.rate = rate;
  }

  private elapsedMs(): number {
    return (performance.now() - this.realAtMs) * this.rate;
  }
}
