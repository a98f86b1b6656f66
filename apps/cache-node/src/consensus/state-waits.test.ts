import { describe, expect, it } from "vitest";
import { StateWaits } from "./state-waits.js";

function fakeClock() {
  let now = 1000;
  return { clock: { nowMs: () => now, monotonicMs: () => now }, advance: (ms: number) => (now += ms) };
}

describe("StateWaits", () => {
  it("resolves true at the check after the condition starts to hold, and at once if it holds already", async () => {
    const { clock } = fakeClock();
    const waits = new StateWaits(clock);
    let ready = false;
    const wait = waits.until(
      () => ready,
      500,
      () => false,
    );
    waits.notify();
    expect(waits.size).toBe(1);
    ready = true;
    waits.notify();
    await expect(wait).resolves.toBe(true);
    expect(waits.size).toBe(0);
    await expect(
      waits.until(
        () => true,
        0,
        () => false,
      ),
    ).resolves.toBe(true);
  });

  it("resolves false at the first check past its deadline on the injected clock, or once the node is gone", async () => {
    const { clock, advance } = fakeClock();
    const waits = new StateWaits(clock);
    let closed = false;
    const timed = waits.until(
      () => false,
      500,
      () => false,
    );
    const closing = waits.until(
      () => false,
      60_000,
      () => closed,
    );
    advance(499);
    waits.notify();
    expect(waits.size).toBe(2);
    advance(1);
    waits.notify();
    await expect(timed).resolves.toBe(false);
    closed = true;
    waits.notify();
    await expect(closing).resolves.toBe(false);
    expect(waits.size).toBe(0);
  });

  it("with fromNextCheck, waits for a check even when the condition holds now", async () => {
    const { clock } = fakeClock();
    const waits = new StateWaits(clock);
    let settled = false;
    const wait = waits
      .until(
        () => true,
        500,
        () => false,
        true,
      )
      .then((v) => (settled = v));
    await Promise.resolve();
    expect(settled).toBe(false);
    waits.notify();
    await wait;
    expect(settled).toBe(true);
  });
});
