import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ClusterTime, SLEW_RATE } from "./cluster-time.js";

const WALL = 1_800_000_000_000;

/** A replica's time after its first command in this process: live, anchored at WALL. */
function liveAt(stampMs = WALL, monotonicMs = 0): ClusterTime {
  const time = new ClusterTime(0, 0, 0);
  time.applied(stampMs, monotonicMs, 1);
  return time;
}

const step = fc.oneof(
  fc.record({ kind: fc.constant("read" as const), advanceMs: fc.nat(5_000), wallJumpMs: fc.integer({ min: -120_000, max: 120_000 }), leading: fc.boolean() }),
  fc.record({ kind: fc.constant("stamp" as const), advanceMs: fc.nat(5_000), wallJumpMs: fc.integer({ min: -120_000, max: 120_000 }), leading: fc.constant(true) }),
  fc.record({ kind: fc.constant("apply" as const), advanceMs: fc.nat(5_000), stampDeltaMs: fc.integer({ min: -200_000, max: 200_000 }), command: fc.boolean() }),
);

describe("cluster time", () => {
  it("never moves backwards, whatever the wall clock does and whatever stamps arrive", () => {
    fc.assert(
      fc.property(fc.nat(10), fc.array(step, { maxLength: 80 }), (bootLastIndex, steps) => {
        const time = new ClusterTime(WALL, 0, bootLastIndex);
        let monotonicMs = 0;
        let wall = WALL;
        let index = 0;
        let last = 0;
        for (const s of steps) {
          monotonicMs += s.advanceMs;
          if (s.kind === "apply") {
            index++;
            time.applied(Math.max(0, last + s.stampDeltaMs), monotonicMs, s.command ? index : undefined);
            continue;
          }
          wall += s.advanceMs + s.wallJumpMs;
          const now = s.kind === "stamp" ? time.stamp(monotonicMs, wall) : time.nowMs(monotonicMs, s.leading ? wall : undefined);
          expect(now).toBeGreaterThanOrEqual(last);
          expect(Number.isInteger(now)).toBe(true);
          last = now;
        }
      }),
    );
  });

  /** Gaps between proposals, in fractions of a millisecond as the monotonic clock reads them. */
  const gaps = fc.array(fc.double({ min: 0.001, max: 2_000, noNaN: true }), { minLength: 1, maxLength: 200 });

  it("loses no time over many stamps given fractions of a millisecond apart", () => {
    fc.assert(
      fc.property(gaps, (list) => {
        const time = liveAt();
        let monotonicMs = 0;
        for (const gap of list) {
          monotonicMs += gap;
          time.stamp(monotonicMs, WALL + monotonicMs);
        }
        // Within the one millisecond the last stamp is rounded down by.
        expect(time.nowMs(monotonicMs, WALL + monotonicMs)).toBeGreaterThan(WALL + monotonicMs - 1);
      }),
    );
  });

  it("gains on a leader's wall clock that jumped ahead by at most 1% of the time elapsed, and by that much", () => {
    fc.assert(
      fc.property(gaps, fc.integer({ min: 1, max: 3_600_000 }), (list, jumpMs) => {
        const time = liveAt();
        let monotonicMs = 0;
        for (const gap of list) {
          monotonicMs += gap;
          time.stamp(monotonicMs, WALL + jumpMs + monotonicMs);
        }
        const gained = time.nowMs(monotonicMs, WALL + jumpMs + monotonicMs) - (WALL + monotonicMs);
        const slew = Math.min(jumpMs, SLEW_RATE * monotonicMs);
        // (Up to the float precision of a Unix time in milliseconds.)
        expect(gained).toBeLessThanOrEqual(slew + 0.01);
        // Compounded per stamp it can only be more, never less, than the simple 1%.
        expect(gained).toBeGreaterThan(slew - 1);
      }),
    );
  });

  it("keeps moving at the monotonic rate when the leader's wall clock jumps back", () => {
    const time = liveAt();
    expect(time.stamp(1_000, WALL - 60_000)).toBe(WALL + 1_000);
    expect(time.nowMs(2_000, WALL - 59_000)).toBe(WALL + 2_000);
  });

  it("on a follower, follows applied stamps and the monotonic clock only", () => {
    const time = liveAt();
    expect(time.nowMs(500, undefined)).toBe(WALL + 500);
    time.applied(WALL + 600, 550, 2);
    expect(time.nowMs(600, undefined)).toBe(WALL + 650);
    // A stamp that trails the estimate (it was given a while before it applied here) holds
    // the estimate rather than moving it back, until the time since it passes the estimate.
    time.applied(WALL + 610, 700, 3);
    expect(time.nowMs(700, undefined)).toBe(WALL + 650);
    expect(time.nowMs(800, undefined)).toBe(WALL + 710);
  });

  it("loses no time at a leader between stamping a proposal and applying it", () => {
    const time = liveAt();
    const stamp = time.stamp(1_000.75, WALL + 1_000.75);
    // Applied 5 ms later: the estimate goes on from the stamp, not from the apply.
    time.applied(stamp, 1_005, 2);
    expect(time.nowMs(1_010.25, WALL + 1_010.25)).toBe(WALL + 1_010);
  });

  it("takes the wall clock until a command that arrived in this process applies", () => {
    // Restarted with stamps up to WALL in its log (up to index 10), an hour later.
    const time = new ClusterTime(WALL, 0, 10);
    expect(time.nowMs(1, WALL + 3_600_000)).toBe(WALL + 3_600_000);
    // Replayed commands and a new leader's empty entry do not end the window...
    time.applied(WALL, 2, 10);
    time.applied(WALL, 3, undefined);
    expect(time.isLive).toBe(false);
    // ...a command after the log's old end does, and from then on the wall clock only slews.
    time.applied(WALL + 3_600_000, 5, 11);
    expect(time.isLive).toBe(true);
    expect(time.nowMs(1_005, WALL + 3_700_000)).toBe(WALL + 3_600_000 + 1_000 + 1_000 * SLEW_RATE);
  });

  it("on a restarted follower, ignores the wall clock, so none of it outlives the restart", () => {
    const time = new ClusterTime(WALL, 0, 10);
    expect(time.nowMs(1_000, undefined)).toBe(WALL + 1_000);
    time.applied(WALL + 1_000, 1_000, 11);
    expect(time.nowMs(2_000, undefined)).toBe(WALL + 2_000);
  });

  it("starts a new group at the wall clock", () => {
    const time = new ClusterTime(0, 0, 0);
    expect(time.nowMs(10, WALL)).toBe(WALL);
  });
});
