import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkOperations } from "./check-operations.js";
import { counterModel, type CounterInput, type CounterOutput } from "./counter-model.js";
import { keyedModel } from "./keyed-model.js";
import type { Operation } from "./model.js";
import { registerModel, type RegisterInput } from "./register-model.js";

/** One generated operation, in the order operations take effect, with its timing slack. */
interface Plan {
  isWrite: boolean;
  key: number;
  callSlack: number;
  returnSlack: number;
  /** Never returns to the client. */
  lost: boolean;
  /** For a lost operation: whether it took effect anyway. */
  applied: boolean;
}

const plan = (keys: number): fc.Arbitrary<Omit<Plan, "lost">> =>
  fc.record({
    isWrite: fc.boolean(),
    key: fc.integer({ min: 0, max: keys - 1 }),
    // Slack up to 3 linearization slots each side, so intervals overlap.
    callSlack: fc.integer({ min: 0, max: 30 }),
    returnSlack: fc.integer({ min: 0, max: 30 }),
    applied: fc.boolean(),
  });

/** lostPercent: the chance that an operation never returns. */
const plans = (keys: number, lostPercent: number): fc.Arbitrary<Plan[]> =>
  fc.array(
    fc.tuple(plan(keys), fc.integer({ min: 0, max: 99 })).map(([p, roll]) => ({ ...p, lost: roll < lostPercent })),
    { maxLength: 40 },
  );

type KeyedInput = RegisterInput & { key: string };

/**
 * Executes the plans on a real keyed register, one at a time in order, at
 * linearization points 10 apart; each operation's interval contains its point,
 * so the history has a valid linearization by construction.
 */
function execute(plans: Plan[]): Operation<KeyedInput, unknown>[] {
  const values = new Map<string, number>();
  return plans.map((p, index) => {
    const key = `k${p.key}`;
    const pointTime = 10 * (index + 1);
    const takesEffect = !p.lost || p.applied;
    let output: unknown;
    if (p.isWrite && takesEffect) values.set(key, index);
    if (!p.isWrite) output = values.get(key) ?? null;
    const input: KeyedInput = p.isWrite ? { kind: "write", value: index, key } : { kind: "read", key };
    return {
      clientId: index % 5,
      input,
      callTime: pointTime - p.callSlack,
      returnTime: p.lost ? undefined : pointTime + p.returnSlack,
      output: p.lost ? undefined : output,
    };
  });
}

const model = keyedModel(registerModel, (input: KeyedInput) => input.key);

describe("checkOperations on generated register histories", () => {
  it("accepts every history of a real register", () => {
    const histories = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 30 })).chain(([keys, lostPercent]) => plans(keys, lostPercent));
    fc.assert(
      fc.property(histories, (generated) => {
        expect(checkOperations(model, execute(generated)).verdict).toBe("ok");
      }),
      { numRuns: 300 },
    );
  });

  it("rejects the history once one read returns a value never written", () => {
    fc.assert(
      fc.property(plans(2, 15), fc.nat(), (generated, pick) => {
        const history = execute(generated);
        const reads = history.filter((operation) => operation.input.kind === "read" && operation.returnTime !== undefined);
        fc.pre(reads.length > 0);
        const mutated = reads[pick % reads.length]!;
        mutated.output = "never written";
        const result = checkOperations(model, history);
        expect(result.verdict).toBe("illegal");
        expect(result.failing!.operations).toContain(mutated);
      }),
      { numRuns: 300 },
    );
  });
});

describe("checkOperations on generated counter histories", () => {
  it("accepts every history of a real counter, and rejects a final value no order reaches", () => {
    const counterPlans = fc.array(fc.record({ delta: fc.integer({ min: -3, max: 5 }), isIncr: fc.boolean(), slack: fc.integer({ min: 0, max: 25 }) }), {
      minLength: 1,
      maxLength: 30,
    });
    fc.assert(
      fc.property(counterPlans, (generated) => {
        let value = 0n;
        const history: Operation<CounterInput, CounterOutput>[] = generated.map((p, index) => {
          if (p.isIncr) value += BigInt(p.delta);
          const input: CounterInput = p.isIncr ? { kind: "incr", delta: p.delta } : { kind: "get" };
          const pointTime = 10 * (index + 1);
          return { clientId: index % 5, input, callTime: pointTime - p.slack, returnTime: pointTime + p.slack, output: value };
        });
        expect(checkOperations(counterModel, history).verdict).toBe("ok");
        // Off by a huge amount: no order of the increments can reach it.
        history[history.length - 1]!.output = value + 1_000_000n;
        expect(checkOperations(counterModel, history).verdict).toBe("illegal");
      }),
      { numRuns: 200 },
    );
  });
});
