import type { Deadline } from "./deadline.js";
import { searchLinearization } from "./linearization-search.js";
import type { Model, Operation } from "./model.js";

/**
 * Search steps allowed per candidate while minimizing. Relaxed operations
 * widen the search (each relaxed write may go anywhere after its call); a
 * candidate that cannot be settled cheaply keeps its operations. Minimizing
 * is best effort: the verdict is already known.
 */
const CANDIDATE_STEPS_MAX = 50_000;

/**
 * Shrinks an illegal history while it stays illegal: first by dropping runs
 * of operations (halving the run length, as in delta debugging), then single
 * operations until none can go.
 *
 * Dropped operations are not simply removed: they stay in every later
 * candidate relaxed to indeterminate (each may have taken effect at any time
 * after its call, with any output, or never). Plain removal would be too
 * eager: removing a write makes any read of its value illegal on its own, and
 * the result would blame that read alone. So the kept operations conflict
 * whatever the others did. They are also illegal alone, since "none of the
 * relaxed ones took effect" is one of the choices. Without stepUnknown the
 * model cannot relax, and operations are plainly removed.
 *
 * Finishing within the deadline and step limits, the result is 1-minimal in
 * that sense: relaxing any one kept operation as well makes it linearizable.
 * Returns the kept operations and the relaxed copies of the dropped ones.
 */
export function minimizeHistory<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  deadline: Deadline,
): { kept: Operation<I, O>[]; relaxed: Operation<I, O>[] } {
  const canRelax = model.stepUnknown !== undefined;
  let relaxedDropped: Operation<I, O>[] = [];
  // Drops run for good if the history stays illegal without it.
  const tryDrop = (kept: Operation<I, O>[], run: Operation<I, O>[]): boolean => {
    const relaxedRun = canRelax ? run.map(relaxed) : [];
    const candidate = [...kept, ...relaxedDropped, ...relaxedRun];
    if (searchLinearization(model, candidate, deadline, { stepsMax: CANDIDATE_STEPS_MAX }).kind !== "illegal") return false;
    relaxedDropped = [...relaxedDropped, ...relaxedRun];
    return true;
  };
  let current = [...operations];
  for (let runLength = current.length >> 1; runLength >= 1; runLength >>= 1) {
    current = dropRuns(current, runLength, tryDrop, deadline).operations;
  }
  for (let changed = true; changed && !deadline.expired();) {
    const pass = dropRuns(current, 1, tryDrop, deadline);
    current = pass.operations;
    changed = pass.changed;
  }
  return { kept: current, relaxed: relaxedDropped };
}

function relaxed<I, O>(operation: Operation<I, O>): Operation<I, O> {
  return { ...operation, returnTime: undefined, output: undefined };
}

function dropRuns<T>(operations: T[], runLength: number, tryDrop: (kept: T[], run: T[]) => boolean, deadline: Deadline): { operations: T[]; changed: boolean } {
  let current = operations;
  let changed = false;
  for (let start = 0; start < current.length && !deadline.expired();) {
    const kept = [...current.slice(0, start), ...current.slice(start + runLength)];
    if (kept.length > 0 && tryDrop(kept, current.slice(start, start + runLength))) {
      current = kept;
      changed = true;
    } else {
      start += runLength;
    }
  }
  return { operations: current, changed };
}
