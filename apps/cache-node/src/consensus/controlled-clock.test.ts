import { describe, expect, it } from "vitest";
import { ControlledClock, REAL_TIME } from "./controlled-clock.js";

/** A base clock the test moves by hand. */
function manualClock(wallMs = 1_000_000, monotonicMs = 500) {
  const clock = { wallMs, monotonicMs };
  return {
    advance(ms: number) {
      clock.wallMs += ms;
      clock.monotonicMs += ms;
    },
    base: { nowMs: () => clock.wallMs, monotonicMs: () => clock.monotonicMs },
  };
}

describe("ControlledClock", () => {
  it("follows its base clock until told otherwise", () => {
    const { base, advance } = manualClock();
    const clock = new ControlledClock(base);
    advance(250);
    expect(clock.nowMs()).toBe(1_000_250);
    expect(clock.monotonicMs()).toBe(750);
    expect(clock.settings).toEqual(REAL_TIME);
  });

  it("steps the wall clock and leaves the monotonic one alone", () => {
    const { base, advance } = manualClock();
    const clock = new ControlledClock(base);
    clock.apply({ stepMs: 60_000, rate: 1, strobe: undefined });
    expect(clock.nowMs()).toBe(1_060_000);
    expect(clock.monotonicMs()).toBe(500);
    clock.stepWall(-120_000);
    advance(10);
    expect(clock.nowMs()).toBe(940_010);
    expect(clock.monotonicMs()).toBe(510);
  });

  it("skews both clocks' rate from the moment it is set, with no jump", () => {
    const { base, advance } = manualClock();
    const clock = new ControlledClock(base);
    advance(1000);
    clock.setRate(1.05);
    expect(clock.monotonicMs()).toBe(1500);
    advance(1000);
    expect(clock.monotonicMs()).toBeCloseTo(2550, 6);
    expect(clock.nowMs()).toBeCloseTo(1_002_050, 6);
    clock.setRate(0.95);
    advance(1000);
    expect(clock.monotonicMs()).toBeCloseTo(3500, 6);
  });

  it("reads the wall clock in whole milliseconds, as Date.now() does, whatever the rate", () => {
    const { base, advance } = manualClock();
    const clock = new ControlledClock(base);
    clock.setRate(1.05);
    for (let i = 0; i < 20; i++) {
      advance(0.37);
      expect(Number.isInteger(clock.nowMs())).toBe(true);
    }
  });

  it("strobes the wall clock back and forth, period by period", () => {
    const { base, advance } = manualClock(1_000_000, 0);
    const clock = new ControlledClock(base);
    clock.apply({ stepMs: 0, rate: 1, strobe: { amplitudeMs: 2000, periodMs: 100 } });
    const readings = Array.from({ length: 4 }, () => {
      const reading = clock.nowMs() - base.nowMs();
      advance(100);
      return reading;
    });
    expect(readings).toEqual([2000, -2000, 2000, -2000]);
  });

  it("never moves the monotonic clock back, whatever the settings", () => {
    const { base, advance } = manualClock();
    const clock = new ControlledClock(base);
    let last = clock.monotonicMs();
    for (const control of [
      { stepMs: -86_400_000, rate: 0.5, strobe: undefined },
      { stepMs: 86_400_000, rate: 1.5, strobe: { amplitudeMs: 60_000, periodMs: 10 } },
      REAL_TIME,
    ]) {
      clock.apply(control);
      for (let i = 0; i < 10; i++) {
        advance(7);
        expect(clock.monotonicMs()).toBeGreaterThanOrEqual(last);
        last = clock.monotonicMs();
      }
    }
  });

  it.each([
    [{ stepMs: 86_400_001, rate: 1, strobe: undefined }, /stepMs must be within/],
    [{ stepMs: Number.NaN, rate: 1, strobe: undefined }, /stepMs must be within/],
    [{ stepMs: 0, rate: 0, strobe: undefined }, /rate must be in \[0.5, 1.5\]/],
    [{ stepMs: 0, rate: 2, strobe: undefined }, /rate must be in/],
    [{ stepMs: 0, rate: 1, strobe: { amplitudeMs: 10, periodMs: 1 } }, /periodMs must be at least 10/],
  ])("refuses %j and keeps its settings", (control, message) => {
    const clock = new ControlledClock(manualClock().base);
    expect(() => clock.apply(control)).toThrow(message);
    expect(clock.settings).toEqual(REAL_TIME);
  });
});
