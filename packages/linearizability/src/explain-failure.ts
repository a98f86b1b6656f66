import { canonicalKey } from "./canonical-key.js";
import { Deadline } from "./deadline.js";
import { searchLinearization } from "./linearization-search.js";
import type { Model, Operation } from "./model.js";

/**
 * Search steps for finding the longest legal order to show. The minimizer
 * already settled this very history within a like limit; if it did not, the
 * explanation shows a shorter order rather than stall.
 */
const EXPLAIN_STEPS_MAX = 200_000;

/**
 * A readable account of why a minimized sub-history is not linearizable: its
 * operations, the longest legal order the search found (using, where they
 * help, the relaxed other operations of the partition), and why no remaining
 * operation could go next after it.
 */
export function explainFailure<S, I, O>(model: Model<S, I, O>, operations: readonly Operation<I, O>[], relaxedOthers: readonly Operation<I, O>[]): string {
  const all = [...operations, ...relaxedOthers];
  const outcome = searchLinearization(model, all, new Deadline(), { stepsMax: EXPLAIN_STEPS_MAX, trackDeepest: true });
  const deepest = outcome.kind === "illegal" ? outcome.deepest : [];
  const label = (index: number): string => (index < operations.length ? `#${index + 1}` : "~");
  const lines = [
    `Not linearizable: no order of these ${operations.length} operations agrees with both the model and real time.`,
    "Operations (by call time):",
    ...operations.map((operation, index) => `  ${label(index)} ${describeTimed(model, operation)}`),
  ];
  if (relaxedOthers.length > 0) {
    lines.push(
      `That holds whatever the other ${relaxedOthers.length} operations of this partition did: each is taken as`,
      "having happened at any time after its call, or never. Those the order below uses are marked ~.",
    );
  }
  let state = model.init();
  lines.push(`Longest legal order found, from state ${describeState(model, state)}:`);
  for (const index of deepest) {
    state = applyOperation(model, state, all[index]!);
    const called = index < operations.length ? "" : ` (called ${all[index]!.callTime})`;
    lines.push(`  ${label(index)} ${describe(model, all[index]!)}${called}  => ${describeState(model, state)}`);
  }
  lines.push("Then none of the remaining operations can go next:");
  const remaining = all.map((_, index) => index).filter((index) => !deepest.includes(index));
  for (const index of remaining.filter((index) => index < operations.length)) {
    const reason = whyNotNext(model, state, all, remaining, index, label);
    lines.push(`  ${label(index)} ${describe(model, all[index]!)}: ${reason}`);
  }
  return lines.join("\n");
}

function whyNotNext<S, I, O>(
  model: Model<S, I, O>,
  state: S,
  operations: readonly Operation<I, O>[],
  remaining: readonly number[],
  index: number,
  label: (index: number) => string,
): string {
  const operation = operations[index]!;
  const blocker = remaining.find((other) => {
    const returnTime = operations[other]!.returnTime;
    return other !== index && returnTime !== undefined && returnTime < operation.callTime;
  });
  if (blocker !== undefined) return `called after ${label(blocker)} returned, so it cannot precede it`;
  if (operation.returnTime === undefined) return "indeterminate; taking effect here leads to no legal order either";
  const result = model.step(state, operation.input, operation.output as O);
  if (!result.ok) return `not legal in state ${describeState(model, state)}`;
  return "legal here, but every order that continues with it fails later";
}

function applyOperation<S, I, O>(model: Model<S, I, O>, state: S, operation: Operation<I, O>): S {
  if (operation.returnTime === undefined) return model.stepUnknown!(state, operation.input);
  return model.step(state, operation.input, operation.output as O).next;
}

function describeTimed<S, I, O>(model: Model<S, I, O>, operation: Operation<I, O>): string {
  const returned = operation.returnTime === undefined ? "never returned (indeterminate)" : `returned ${operation.returnTime}`;
  return `client ${operation.clientId}, called ${operation.callTime}, ${returned}: ${describe(model, operation)}`;
}

function describe<S, I, O>(model: Model<S, I, O>, operation: Operation<I, O>): string {
  if (model.describeOperation) return model.describeOperation(operation.input, operation.output);
  const output = operation.returnTime === undefined ? "?" : canonicalKey(operation.output);
  return `${canonicalKey(operation.input)} -> ${output}`;
}

function describeState<S, I, O>(model: Model<S, I, O>, state: S): string {
  return model.describeState ? model.describeState(state) : model.key(state);
}
