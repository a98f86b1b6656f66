import type { Model, Operation } from "./model.js";

/**
 * inner applied per key: the history is partitioned by keyOf(input), and each
 * key's operations are checked as an independent history starting from
 * inner.init(). Sound because operations on different keys are independent
 * objects, so a history is linearizable iff each key's sub-history is
 * (linearizability is local: Herlihy & Wing, 1990).
 *
 * K lets keyed inputs extend the inner model's input, e.g.
 * keyedModel(registerModel, (input: RegisterInput & { key: string }) => input.key).
 */
export function keyedModel<S, I, O, K extends I = I>(inner: Model<S, I, O>, keyOf: (input: K) => string): Model<S, K, O> {
  const model: Model<S, K, O> = {
    init: () => inner.init(),
    step: (state, input, output) => inner.step(state, input, output),
    key: (state) => inner.key(state),
    partition: (history) => partitionByKey(history, keyOf),
  };
  if (inner.stepUnknown) model.stepUnknown = (state, input) => inner.stepUnknown!(state, input);
  if (inner.describeState) model.describeState = (state) => inner.describeState!(state);
  if (inner.describeOperation) {
    model.describeOperation = (input, output) => `${keyOf(input)}: ${inner.describeOperation!(input, output)}`;
  }
  return model;
}

function partitionByKey<I, O>(history: readonly Operation<I, O>[], keyOf: (input: I) => string): Operation<I, O>[][] {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const operation of history) {
    const key = keyOf(operation.input);
    const part = byKey.get(key);
    if (part) part.push(operation);
    else byKey.set(key, [operation]);
  }
  return [...byKey.values()];
}
