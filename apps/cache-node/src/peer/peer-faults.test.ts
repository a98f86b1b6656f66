import { describe, expect, it } from "vitest";
import { PeerFaultHook, type FaultVerdict } from "./peer-faults.js";

const delayOf = (verdict: FaultVerdict) => (verdict.drop ? "drop" : verdict.delayMs);

describe("the peer fault hook", () => {
  it("passes frames to destinations the file does not name", () => {
    const hook = new PeerFaultHook(() => 0);
    hook.load({ links: { n2: { cut: true } } });
    expect(hook.verdict("n3")).toEqual({ drop: false, delayMs: 0 });
    expect(hook.verdict("n2")).toEqual({ drop: true });
    expect(hook.isCut("n2")).toBe(true);
    expect(hook.isCut("n3")).toBe(false);
    expect(hook.stats).toMatchObject({ dropped: 1, delayed: 0, reloads: 1 });
  });

  it("drops about the share of frames it is told, the same ones for the same seed", () => {
    const draw = (seed: number) => {
      const hook = new PeerFaultHook(() => 0);
      hook.load({ seed, links: { n2: { drop: 0.25 } } });
      return Array.from({ length: 4000 }, () => hook.verdict("n2").drop);
    };
    const drops = draw(7).filter(Boolean).length;
    expect(drops).toBeGreaterThan(800);
    expect(drops).toBeLessThan(1200);
    expect(draw(7)).toEqual(draw(7));
    expect(draw(8)).not.toEqual(draw(7));
  });

  it("delays frames in order: with jitter, a frame never leaves before an earlier one", () => {
    let now = 0;
    const hook = new PeerFaultHook(() => now);
    hook.load({ seed: 3, links: { n2: { delayMs: 40, jitterMs: 30 } } });
    let lastRelease = 0;
    for (let i = 0; i < 500; i++) {
      now += 1;
      const delay = delayOf(hook.verdict("n2"));
      expect(typeof delay).toBe("number");
      expect(delay as number).toBeGreaterThanOrEqual(40);
      expect(now + (delay as number)).toBeGreaterThanOrEqual(lastRelease);
      lastRelease = now + (delay as number);
    }
    // Once the fault heals, a frame still waits behind the delayed ones, then frames pass at once.
    hook.load({ links: {} });
    expect(delayOf(hook.verdict("n2"))).toBe(lastRelease - now);
    now = lastRelease;
    expect(delayOf(hook.verdict("n2"))).toBe(0);
  });

  it.each([
    [{ links: [1, 2] }, /links must be an object/],
    [{ links: { n2: { drop: 1.5 } } }, /n2.drop must be a number in \[0, 1\]/],
    [{ links: { n2: { delayMs: -1 } } }, /n2.delayMs must be a number/],
    [{ links: { n2: { cut: "yes" } } }, /n2.cut must be true or false/],
    [{ links: { n2: "cut" } }, /the fault of n2 must be an object/],
    [{ seed: 1.5, links: {} }, /seed must be an integer/],
  ])("refuses the malformed file %j and keeps its faults", (document, message) => {
    const hook = new PeerFaultHook(() => 0);
    hook.load({ links: { n2: { cut: true } } });
    expect(() => hook.load(document)).toThrow(message);
    expect(hook.verdict("n2")).toEqual({ drop: true });
  });
});
