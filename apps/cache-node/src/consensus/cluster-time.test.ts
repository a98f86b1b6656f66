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
  fc.record({
    kind: fc.constant("stamp" as const),
    advanceMs: fc.nat(5_000),
    wallJumpMs: fc.integer({ min: -120_000, max: 120_000 }),
    leading: fc.constant(true),
  }),
  fc.record({
    kind: fc.constant("apply" as const),
    advanceMs: fc.nat(5_000),
    stampDeltaMs: fc.integer({ min: -200_000, max: 200_000 }),
    command: fc.boolean(),
  }),
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

  it("on a follower, follows applied stamps that move it forward and the monotonic clock only", () => {
    const time = liveAt();
    expect(time.nowMs(500, undefined)).toBe(WALL + 500);
    time.applied(WALL + 600, 550, 2);
    expect(time.nowMs(600, undefined)).toBe(WALL + 650);
    // A stamp that trails the estimate was given a while before it applied here (a new
    // leader commits its predecessor's last entries only after the election): it changes
    // nothing, and no time is lost.
    time.applied(WALL + 610, 700, 3);
    expect(time.nowMs(700, undefined)).toBe(WALL + 750);
    expect(time.nowMs(800, undefined)).toBe(WALL + 850);
  });

  it("on a follower, takes the leader's latest estimate, lower or higher, and never hands out less than before", () => {
    const time = liveAt();
    time.observedLeader(WALL + 1_000, 1_000);
    expect(time.nowMs(1_100, undefined)).toBe(WALL + 1_100);
    // The leader is ahead (this clock ran slow): the estimate jumps to it.
    time.observedLeader(WALL + 1_300, 1_200);
    expect(time.nowMs(1_200, undefined)).toBe(WALL + 1_300);
    // Then behind (this clock ran fast): held until the leader's time passes the floor.
    time.observedLeader(WALL + 1_250, 1_250);
    expect(time.nowMs(1_250, undefined)).toBe(WALL + 1_300);
    expect(time.nowMs(1_400, undefined)).toBe(WALL + 1_400);
    // A stale stamp applied later moves nothing.
    time.applied(WALL + 1_200, 1_500, 4);
    expect(time.nowMs(1_500, undefined)).toBe(WALL + 1_500);
  });

  it("keeps pace with the leader however late its stamps apply, never ahead of it and never back", () => {
    const step = fc.record({ stepMs: fc.integer({ min: 1, max: 500 }), applies: fc.nat({ max: 3 }), heartbeat: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const time = liveAt();
        // The leader's time is WALL plus the shared monotonic reading. It stamps an entry at
        // every step; this follower applies them in order, as many as the step says (so a
        // stamp may apply long after it was given), and a heartbeat arrives 1 ms after it was sent.
        const pending: number[] = [];
        let now = 0;
        let last = time.nowMs(0, undefined);
        for (const { stepMs, applies, heartbeat } of steps) {
          now += stepMs;
          pending.push(WALL + now);
          for (let i = 0; i < applies && pending.length > 0; i++) time.applied(pending.shift()!, now, 2);
          if (heartbeat) time.observedLeader(WALL + now - 1, now);
          const estimate = time.nowMs(now, undefined);
          expect(estimate).toBeGreaterThanOrEqual(last + stepMs - 1);
          expect(estimate).toBeLessThanOrEqual(WALL + now);
          last = estimate;
        }
      }),
    );
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
