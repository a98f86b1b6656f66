import { Deadline } from "./deadline.js";
import { explainFailure } from "./explain-failure.js";
import { searchLinearization } from "./linearization-search.js";
import { minimizeHistory } from "./minimize-history.js";
import type { CheckOptions, CheckResult, Model, Operation } from "./model.js";

/**
 * Checks that a concurrent history is linearizable with respect to model.
 *
 * The history is split with model.partition (P-compositionality: a history
 * is linearizable iff each independent part is), and each part is searched
 * on its own. "illegal" wins over "unknown": one illegal part makes the whole
 * history illegal even if another part ran out of time.
 *
 * Throws (a caller's bug, not a verdict) on malformed operations, or on
 * indeterminate operations when the model has no stepUnknown.
 */
export function checkOperations<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[], options: CheckOptions = {}): CheckResult<I, O> {
  validateHistory(model, history);
  const deadline = new Deadline(options);
  const parts = model.partition ? model.partition(history) : [[...history]];
  let failing: Operation<I, O>[] | undefined;
  let timedOut = false;
  for (const part of parts) {
    if (deadline.expired()) {
      timedOut = true;
      break;
    }
    const outcome = searchLinearization(model, part, deadline);
    if (outcome.kind === "incomplete") timedOut = true;
    if (outcome.kind === "illegal" && (failing === undefined || part.length < failing.length)) failing = part;
    if (timedOut) break;
  }
  if (failing !== undefined) return { verdict: "illegal", failing: minimizeAndExplain(model, failing, deadline) };
  return { verdict: timedOut ? "unknown" : "ok" };
}

function minimizeAndExplain<S, I, O>(
  model: Model<S, I, O>,
  part: readonly Operation<I, O>[],
  deadline: Deadline,
): { operations: Operation<I, O>[]; explanation: string } {
  const byCallTime = [...part].sort((a, b) => a.callTime - b.callTime);
  const { kept, relaxed } = minimizeHistory(model, byCallTime, deadline);
  return { operations: kept, explanation: explainFailure(model, kept, relaxed) };
}

function validateHistory<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): void {
  history.forEach((operation, index) => {
    const { callTime, returnTime } = operation;
    if (typeof callTime !== "number" || !Number.isFinite(callTime)) {
      throw new RangeError(`checkOperations: operation ${index} has callTime ${String(callTime)}, not a finite number`);
    }
    if (returnTime !== undefined && !(returnTime >= callTime)) {
      throw new RangeError(`checkOperations: operation ${index} returns at ${String(returnTime)}, before its call at ${callTime}`);
    }
    if (returnTime === undefined && model.stepUnknown === undefined) {
      throw new TypeError(`checkOperations: operation ${index} is indeterminate but the model has no stepUnknown`);
    }
  });
}
