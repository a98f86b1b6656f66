/**
 * The node's clocks as a port, so tests can drive time: the wall clock (Unix ms), which
 * only a leader reads to correct cluster time slowly, and a monotonic clock (ms from an
 * arbitrary origin, never stepped), which measures elapsed time.
 */
export interface Clock {
  nowMs(): number;
  monotonicMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now(), monotonicMs: () => performance.now() };
