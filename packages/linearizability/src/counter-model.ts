import type { Model } from "./model.js";

export type CounterInput = { kind: "incr"; delta: number | bigint } | { kind: "get" };
/** The counter's value after the incr, or the value read. Integers only. */
export type CounterOutput = number | bigint;
export type CounterState = bigint;

// Values are compared as bigints: the cache's counters are signed 64-bit,
// beyond the range where doubles are exact.
const toBigInt = (value: number | bigint): bigint => (typeof value === "bigint" ? value : BigInt(value));

/** A counter that starts at 0: incr(delta) returns the new value; get returns the value. */
export const counterModel: Model<CounterState, CounterInput, CounterOutput> = {
  init: () => 0n,
  step(state, input, output) {
    const next = input.kind === "incr" ? state + toBigInt(input.delta) : state;
    return { ok: output !== undefined && output !== null && toBigInt(output) === next, next };
  },
  stepUnknown: (state, input) => (input.kind === "incr" ? state + toBigInt(input.delta) : state),
  key: (state) => state.toString(),
  describeOperation(input, output) {
    const result = output === undefined ? "?" : String(output);
    return input.kind === "incr" ? `incr(${String(input.delta)}) -> ${result}` : `get() -> ${result}`;
  },
};
