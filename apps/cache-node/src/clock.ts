/** The wall clock as a port, so tests can drive time. Only leaders stamp with it. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
