import type { CounterOutput, Model, RegisterOutput } from "@distcache/linearizability";
import { checkOperations, counterModel, keyedModel, registerModel } from "@distcache/linearizability";
import type { Operation } from "@distcache/linearizability";
import type { CounterOperationInput, RegisterOperationInput } from "./clients.js";

/**
 * The checker's clock advances one unit per read, and it reads its clock every
 * 256 search steps, so this is a deterministic budget of about a million steps
 * per history: a pathological history ends as "unknown", never as a flaky verdict.
 */
const LINEARIZABILITY_BUDGET_READS = 4_000;

export interface HistoryVerdict {
  /** A readable explanation when a history is not linearizable. */
  readonly failure: string | undefined;
  /** Histories the budget could not decide. */
  readonly unknown: number;
}

/** Checks the clients' register and counter histories, each partitioned by key. */
export function checkHistories(
  registerHistory: readonly Operation<RegisterOperationInput, RegisterOutput>[],
  counterHistory: readonly Operation<CounterOperationInput, CounterOutput>[],
): HistoryVerdict {
  let clock = 0;
  const options = { timeBudgetMs: LINEARIZABILITY_BUDGET_READS, now: () => clock++ };
  const registers = checkOperations(
    keyedModel(withKey<string, RegisterOperationInput, RegisterOutput>(registerModel), (input) => input.key),
    registerHistory,
    options,
  );
  clock = 0;
  const counters = checkOperations(
    keyedModel(withKey<bigint, CounterOperationInput, CounterOutput>(counterModel), (input) => input.key),
    counterHistory,
    options,
  );
  let unknown = 0;
  for (const [name, result] of [
    ["registers", registers],
    ["counters", counters],
  ] as const) {
    if (result.verdict === "unknown") unknown += 1;
    if (result.verdict === "illegal") {
      return { failure: `${name} history is not linearizable:\n${result.failing?.explanation ?? ""}`, unknown };
    }
  }
  return { failure: undefined, unknown };
}

/** Adapts a model of one object to inputs that also name their key (which the model ignores). */
function withKey<S, I, O>(inner: Model<S, Omit<I, "key">, O>): Model<S, I, O> {
  const model: Model<S, I, O> = {
    init: () => inner.init(),
    step: (state, input, output) => inner.step(state, input, output),
    key: (state) => inner.key(state),
  };
  if (inner.stepUnknown !== undefined) model.stepUnknown = (state, input) => inner.stepUnknown!(state, input);
  if (inner.describeOperation !== undefined) model.describeOperation = (input, output) => inner.describeOperation!(input, output);
  return model;
}
