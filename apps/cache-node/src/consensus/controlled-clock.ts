import { systemClock, type Clock } from "./clock.js";

/** How a controlled clock departs from real time (test-only: --testing-control). */
export interface ClockControl {
  /** Added to the wall clock (a step, as NTP or an operator makes one); the monotonic clock does not notice. */
  stepMs: number;
  /** Both clocks advance this many ms per real ms (a skew: 1.05 runs 5% fast). */
  rate: number;
  /** Rapid steps back and forth: the wall clock is +amplitudeMs, then −amplitudeMs, each for periodMs. */
  strobe: { amplitudeMs: number; periodMs: number } | undefined;
}

export const REAL_TIME: ClockControl = { stepMs: 0, rate: 1, strobe: undefined };

/** The bounds of a clock control: steps of up to a day, rates within ±50%, strobe periods of at least 10 ms. */
export const CLOCK_STEP_MS_MAX = 24 * 3600 * 1000;
export const CLOCK_RATE_MIN = 0.5;
export const CLOCK_RATE_MAX = 1.5;
export const STROBE_PERIOD_MS_MIN = 10;

/**
 * A node's clocks under test control: both follow a base clock at a rate that can be
 * skewed, the wall clock can be stepped or strobed, and the monotonic clock never goes
 * back. Used by nodes started with --testing (the harness's clock nemeses) and by tests.
 */
export class ControlledClock implements Clock {
  private control: ClockControl = REAL_TIME;
  private baseAtMs: number;
  /** Both clocks' readings, unstepped, at baseAtMs. */
  private wallAtMs: number;
  private monoAtMs: number;

  constructor(private readonly base: Clock = systemClock) {
    this.baseAtMs = base.monotonicMs();
    this.wallAtMs = base.nowMs();
    this.monoAtMs = this.baseAtMs;
  }

  /** Whole milliseconds, as Date.now() gives them: expiry and stamps are integers. */
  nowMs(): number {
    return Math.floor(this.wallAtMs + this.elapsedMs() + this.control.stepMs + this.strobeMs());
  }

  monotonicMs(): number {
    return this.monoAtMs + this.elapsedMs();
  }

  get settings(): ClockControl {
    return this.control;
  }

  /** Takes new settings; a rate change applies from now on, so no reading jumps but the wall clock's steps. */
  apply(control: ClockControl): void {
    checkClockControl(control);
    const elapsed = this.elapsedMs();
    this.wallAtMs += elapsed;
    this.monoAtMs += elapsed;
    this.baseAtMs = this.base.monotonicMs();
    this.control = control;
  }

  /** Moves the wall clock by deltaMs at once. */
  stepWall(deltaMs: number): void {
    this.apply({ ...this.control, stepMs: this.control.stepMs + deltaMs });
  }

  /** From now on both clocks advance `rate` ms per real ms. */
  setRate(rate: number): void {
    this.apply({ ...this.control, rate });
  }

  private elapsedMs(): number {
    return (this.base.monotonicMs() - this.baseAtMs) * this.control.rate;
  }

  private strobeMs(): number {
    const strobe = this.control.strobe;
    if (strobe === undefined || strobe.amplitudeMs === 0) return 0;
    return Math.floor(this.base.monotonicMs() / strobe.periodMs) % 2 === 0 ? strobe.amplitudeMs : -strobe.amplitudeMs;
  }
}

/** Throws a RangeError naming the first setting out of its bounds. */
export function checkClockControl(control: ClockControl): void {
  const { stepMs, rate, strobe } = control;
  if (!(Math.abs(stepMs) <= CLOCK_STEP_MS_MAX)) throw new RangeError(`clock stepMs must be within ±${CLOCK_STEP_MS_MAX}, got ${stepMs}`);
  if (!(rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX)) throw new RangeError(`clock rate must be in [${CLOCK_RATE_MIN}, ${CLOCK_RATE_MAX}], got ${rate}`);
  if (strobe === undefined) return;
  if (!(Math.abs(strobe.amplitudeMs) <= CLOCK_STEP_MS_MAX)) throw new RangeError(`clock strobe amplitudeMs must be within ±${CLOCK_STEP_MS_MAX}`);
  if (!(strobe.periodMs >= STROBE_PERIOD_MS_MIN))
    throw new RangeError(`clock strobe periodMs must be at least ${STROBE_PERIOD_MS_MIN}, got ${strobe.periodMs}`);
}
