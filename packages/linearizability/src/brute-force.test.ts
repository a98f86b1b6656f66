import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkOperations } from "./check-operations.js";
import { counterModel, type CounterInput, type CounterOutput } from "./counter-model.js";
import type { Model, Operation } from "./model.js";
import { registerModel, type RegisterInput } from "./register-model.js";
import { versionedRegisterModel, type VersionedRegisterInput, type VersionedRegisterOutput } from "./versioned-register-model.js";

// Cross-checks the search against the definition on small random histories:
// linearizable iff some subset of the indeterminate operations, together with
// all determinate ones, has an order that respects real time (a before b when
// a returned strictly before b was called) and that the model accepts.

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]));
}

function respectsRealTime<I, O>(order: Operation<I, O>[]): boolean {
  return order.every((later, index) => order.slice(index + 1).every((earlier) => earlier.returnTime === undefined || earlier.returnTime >= later.callTime));
}

function accepts<S, I, O>(model: Model<S, I, O>, order: Operation<I, O>[]): boolean {
  let state = model.init();
  for (const operation of order) {
    if (operation.returnTime === undefined) {
      state = model.stepUnknown!(state, operation.input);
      continue;
    }
    const result = model.step(state, operation.input, operation.output as O);
    if (!result.ok) return false;
    state = result.next;
  }
  return true;
}

function bruteForce<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[]): "ok" | "illegal" {
  const determinate = history.filter((operation) => operation.returnTime !== undefined);
  const indeterminate = history.filter((operation) => operation.returnTime === undefined);
  for (let mask = 0; mask < 1 << indeterminate.length; mask++) {
    const chosen = [...determinate, ...indeterminate.filter((_, index) => (mask & (1 << index)) !== 0)];
    if (permutations(chosen).some((order) => respectsRealTime(order) && accepts(model, order))) return "ok";
  }
  return "illegal";
}

/** Random timing: a call in [0, 20), a duration in [0, 10], lost with some chance. */
function timed<I, O>(input: fc.Arbitrary<I>, output: fc.Arbitrary<O>): fc.Arbitrary<Operation<I, O>> {
  return fc
    .record({
      input,
      output,
      callTime: fc.integer({ min: 0, max: 19 }),
      duration: fc.integer({ min: 0, max: 10 }),
      lost: fc.integer({ min: 0, max: 3 }).map((roll) => roll === 0),
    })
    .map(({ input, output, callTime, duration, lost }) => ({
      clientId: 0,
      input,
      callTime,
      returnTime: lost ? undefined : callTime + duration,
      output: lost ? undefined : output,
    }));
}

function agreeOn<S, I, O>(model: Model<S, I, O>, operation: fc.Arbitrary<Operation<I, O>>): void {
  const verdicts = { ok: 0, illegal: 0 };
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 6 }), (history) => {
      const expected = bruteForce(model, history);
      verdicts[expected]++;
      expect(checkOperations(model, history).verdict).toBe(expected);
    }),
    { numRuns: 1500 },
  );
  // Both verdicts must be well represented, or the comparison proves little.
  expect(Math.min(verdicts.ok, verdicts.illegal)).toBeGreaterThan(300);
}

const small = fc.integer({ min: 1, max: 3 });

describe("checkOperations agrees with brute force", () => {
  it("on registers", () => {
    const input = fc.oneof(
      fc.constant<RegisterInput>({ kind: "read" }),
      small.map((value): RegisterInput => ({ kind: "write", value })),
      fc.constant<RegisterInput>({ kind: "delete" }),
    );
    agreeOn(registerModel, timed(input, fc.oneof(fc.constant(null), small, fc.boolean())));
  });

  it("on counters", () => {
    const input = fc.oneof(
      fc.constant<CounterInput>({ kind: "get" }),
      small.map((delta): CounterInput => ({ kind: "incr", delta })),
    );
    agreeOn(counterModel, timed<CounterInput, CounterOutput>(input, fc.integer({ min: 0, max: 6 })));
  });

  it("on versioned registers", () => {
    const condition = fc.oneof(
      fc.constant({ kind: "none" as const }),
      fc.constant({ kind: "if_absent" as const }),
      small.map((version) => ({ kind: "if_version" as const, version })),
    );
    const input = fc.oneof(
      fc.constant<VersionedRegisterInput>({ kind: "get" }),
      fc.record({ kind: fc.constant("set" as const), value: small, condition }),
      fc.constant<VersionedRegisterInput>({ kind: "delete" }),
    );
    const output = fc.oneof(
      fc.constant<VersionedRegisterOutput>({ found: false }),
      fc.record({ found: fc.constant(true as const), value: small, version: small }),
      small.map((version): VersionedRegisterOutput => ({ ok: true, version })),
      fc.constant<VersionedRegisterOutput>({ ok: false }),
      fc.boolean().map((deleted): VersionedRegisterOutput => ({ deleted })),
    );
    // Pair each input with an output of its own shape, as a real client records it.
    const shaped = timed(input, output).filter((operation) => {
      if (operation.returnTime === undefined) return true;
      const out = operation.output!;
      if (operation.input.kind === "get") return "found" in out;
      if (operation.input.kind === "set") return "ok" in out;
      return "deleted" in out;
    });
    agreeOn(versionedRegisterModel, shaped);
  });
});
