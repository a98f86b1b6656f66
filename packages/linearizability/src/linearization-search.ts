import type { Deadline } from "./deadline.js";
import { EntryList, HEAD, NONE } from "./entry-list.js";
import { MemoCache } from "./memo-cache.js";
import type { Model, Operation } from "./model.js";

export type SearchOutcome =
  | { kind: "ok" }
  /** deepest: the longest legal order of operations the search reached. */
  | { kind: "illegal"; deepest: number[] }
  /** The deadline passed or stepsMax ran out first. */
  | { kind: "incomplete" };


/**
 * Searches for a linearization of one (sub-)history: the Wing-Gong depth-first
 * search with Lowe's memoization, walking the event list in time order.
 *
 * At each step the search may linearize any operation whose call event comes
 * before the first return event still in the list (a pending operation may
 * take effect only before the earliest pending return). Reaching a return
 * event means that operation has to have taken effect already: backtrack.
 *
 * Indeterminate operations (no return event) may take effect at any point
 * after their call, or never. "Never" is handled by ending the search as soon
 * as every determinate operation is linearized, whatever indeterminate ones
 * remain. One that would not change the state is never tried, since taking
 * effect there is indistinguishable from never taking effect.
 *
 * Termination: every successful step linearizes one more operation, so a
 * path is at most n steps deep and each step has finitely many choices; the
 * memo cache only prunes. The deadline and stepsMax bound the (exponential)
 * worst case.
 */
export function searchLinearization<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  deadline: Deadline,
  stepsMax = Number.POSITIVE_INFINITY,
): SearchOutcome {
  return new LinearizationSearch(model, operations, deadline).run(stepsMax);
}

class LinearizationSearch<S, I, O> {
  readonly #model: Model<S, I, O>;
  readonly #operations: readonly Operation<I, O>[];
  readonly #deadline: Deadline;
  readonly #list: EntryList;
  readonly #cache: MemoCache;
  #state: S;
  #stateKey: string;
  /** Determinate operations not yet linearized: the search succeeds at zero. */
  #pendingDeterminate: number;
  // The backtracking stack: linearized operations with the state before each.
  readonly #stackOperations: number[] = [];
  readonly #stackStates: S[] = [];
  readonly #stackKeys: string[] = [];
  #deepest: number[] = [];

  constructor(
    model: Model<S, I, O>,
    operations: readonly Operation<I, O>[],
    deadline: Deadline,
  ) {
    this.#model = model;
    this.#operations = operations;
    this.#deadline = deadline;
    this.#list = new EntryList(operations);
    this.#cache = new MemoCache(operations.length);
    this.#state = model.init();
    this.#stateKey = model.key(this.#state);
    this.#pendingDeterminate = operations.filter((operation) => operation.returnTime !== undefined).length;
  }

  run(stepsMax: number): SearchOutcome {
    const list = this.#list;
    let node = list.next[HEAD]!;
    for (let steps = 0; this.#pendingDeterminate > 0; steps++) {
      if (steps >= stepsMax || this.#deadline.expiredAfterStep()) return { kind: "incomplete" };
      if (node !== NONE && list.isReturn[node] === 0) {
        node = this.#tryLinearize(list.operationOf[node]!) ? list.next[HEAD]! : list.next[node]!;
      } else {
        // A return event (or, defensively, the end): its operation must
        // already have taken effect, and it has not. Undo the last choice.
        if (this.#stackOperations.length === 0) return { kind: "illegal", deepest: this.#deepest };
        node = this.#backtrack();
      }
    }
    return { kind: "ok" };
  }

  /** Linearizes operation next if legal and new to the memo cache. */
  #tryLinearize(operation: number): boolean {
    const { input, output, returnTime } = this.#operations[operation]!;
    const determinate = returnTime !== undefined;
    let next: S;
    if (determinate) {
      const result = this.#model.step(this.#state, input, output as O);
      if (!result.ok) return false;
      next = result.next;
    } else {
      next = this.#model.stepUnknown!(this.#state, input);
    }
    const nextKey = this.#model.key(next);
    if (!determinate && nextKey === this.#stateKey) return false;
    return this.#pushIfNew(operation, next, nextKey);
  }

  #pushIfNew(operation: number, next: S, nextKey: string): boolean {
    this.#cache.toggle(operation);
    if (!this.#cache.add(nextKey)) {
      this.#cache.toggle(operation);
      return false;
    }
    this.#stackOperations.push(operation);
    this.#stackStates.push(this.#state);
    this.#stackKeys.push(this.#stateKey);
    this.#state = next;
    this.#stateKey = nextKey;
    this.#list.lift(operation);
    if (this.#operations[operation]!.returnTime !== undefined) this.#pendingDeterminate--;
    if (this.#stackOperations.length > this.#deepest.length) this.#deepest = [...this.#stackOperations];
    return true;
  }

  /** Undoes the most recent linearization; returns the node to resume from (after its call). */
  #backtrack(): number {
    const operation = this.#stackOperations.pop()!;
    this.#state = this.#stackStates.pop()!;
    this.#stateKey = this.#stackKeys.pop()!;
    this.#list.unlift(operation);
    this.#cache.toggle(operation);
    if (this.#operations[operation]!.returnTime !== undefined) this.#pendingDeterminate++;
    return this.#list.next[this.#list.callNode[operation]!]!;
  }
}
