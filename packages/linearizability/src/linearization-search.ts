import type { Deadline } from "./deadline.js";
import { EntryList, HEAD, NONE } from "./entry-list.js";
import { MemoCache } from "./memo-cache.js";
import type { Model, Operation } from "./model.js";

export type SearchOutcome =
  | { kind: "ok" }
  /** deepest: operation indices of the longest legal order reached (empty unless trackDeepest). */
  | { kind: "illegal"; deepest: number[] }
  /** The deadline passed or stepsMax ran out first. */
  | { kind: "incomplete" };

export interface SearchOptions {
  /** Give up with "incomplete" after this many steps. Default: no limit. */
  stepsMax?: number;
  /** Record the longest legal order for explanations. Costs O(n^2) on long histories, so off by default. */
  trackDeepest?: boolean;
}

/**
 * Searches for a linearization of one (sub-)history: the Wing-Gong depth-first
 * search with Lowe's memoization, walking the determinate operations' call and
 * return events in time order.
 *
 * Determinate operations: at each step the search may linearize any one
 * whose call event comes before the first return event still in the list (an
 * operation can take effect only before the earliest pending return).
 * Reaching a return event means that operation should already have taken
 * effect: that branch is exhausted.
 *
 * Indeterminate operations may take effect at any time after their call, or
 * never. Any linearization can be cut into runs of indeterminate operations
 * between consecutive determinate ones, so each search frame (entered by one
 * determinate step) has a closure: every state reachable by a run of
 * indeterminate operations called before the earliest pending return. It is
 * grown breadth-first, so smaller sets come first and subsume larger ones in
 * the memo cache (see MemoCache), and lazily, only when the states found so
 * far have been tried. "Never" needs no branch: the search succeeds as
 * soon as every determinate operation is linearized. An indeterminate
 * operation that would not change the state is not applied, since taking
 * effect there is indistinguishable from never taking effect.
 *
 * Termination: each frame linearizes one more determinate operation and each
 * closure element one more indeterminate one, so paths are at most n long
 * with finitely many choices per step; the memo cache only prunes. The
 * deadline and stepsMax bound the (exponential) worst case.
 */
export function searchLinearization<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  deadline: Deadline,
  options: SearchOptions = {},
): SearchOutcome {
  return new LinearizationSearch(model, operations, deadline, options).run();
}

/** A state reached from a frame's entry state by a run of indeterminate operations. */
interface ClosureState<S> {
  state: S;
  key: string;
  /** Indeterminate operations applied so far (bit i = indeterminate[i]). Never mutated once built. */
  used: Uint32Array;
  /** Closure index this was reached from, and the operation applied (-1 for the entry state). */
  parent: number;
  operation: number;
}

interface Frame<S> {
  /** The determinate operation (list index) whose linearization entered this frame; -1 at the root. */
  entered: number;
  /**
   * Grown lazily, breadth-first: an element's successors are generated only
   * once every earlier element has been tried, so a history that needs no
   * indeterminate operation at this point never pays for them.
   */
  closure: ClosureState<S>[];
  /** How many closure elements have had their successors generated. */
  expanded: number;
  /** Indeterminate operations that may go in this frame, computed on first expansion. */
  candidates: number[] | undefined;
  /** The closure element whose determinate successors are being tried. */
  position: number;
  /** The next event to try in the walk for that element. */
  node: number;
}

class LinearizationSearch<S, I, O> {
  readonly #model: Model<S, I, O>;
  readonly #operations: readonly Operation<I, O>[];
  readonly #deadline: Deadline;
  readonly #stepsMax: number;
  readonly #trackDeepest: boolean;
  /** Original indices of the determinate operations, in the order the list knows them. */
  readonly #determinate: number[] = [];
  /** Original indices of the indeterminate operations, by call time. */
  readonly #indeterminate: number[] = [];
  readonly #list: EntryList;
  readonly #cache: MemoCache;
  readonly #stack: Frame<S>[] = [];
  #steps = 0;
  #deepest: number[] = [];
  #deepestDeterminate = -1;

  constructor(model: Model<S, I, O>, operations: readonly Operation<I, O>[], deadline: Deadline, options: SearchOptions) {
    this.#model = model;
    this.#operations = operations;
    this.#deadline = deadline;
    this.#stepsMax = options.stepsMax ?? Number.POSITIVE_INFINITY;
    this.#trackDeepest = options.trackDeepest ?? false;
    operations.forEach((operation, index) => (operation.returnTime === undefined ? this.#indeterminate : this.#determinate).push(index));
    this.#indeterminate.sort((a, b) => operations[a]!.callTime - operations[b]!.callTime);
    this.#list = new EntryList(this.#determinate.map((index) => operations[index]!));
    this.#cache = new MemoCache(this.#determinate.length, this.#indeterminate.length);
  }

  run(): SearchOutcome {
    const state = this.#model.init();
    const key = this.#model.key(state);
    const used = this.#cache.emptyIndeterminateSet();
    this.#cache.add(key, used);
    let pending = this.#determinate.length;
    if (pending === 0) return { kind: "ok" };
    this.#enter(-1, state, key, used);
    while (true) {
      const frame = this.#stack.at(-1)!;
      if (frame.position >= frame.closure.length) {
        if (frame.expanded < frame.closure.length) {
          if (!this.#expand(frame)) return { kind: "incomplete" };
          continue;
        }
        if (this.#stack.length === 1) return { kind: "illegal", deepest: this.#deepest };
        this.#leave();
        pending++;
        continue;
      }
      const outcome = this.#tryNextDeterminate(frame);
      if (outcome === "incomplete") return { kind: "incomplete" };
      if (outcome === "entered" && --pending === 0) return { kind: "ok" };
    }
  }

  /** One step of a frame's walk: linearize the next legal candidate, or move to the next closure element. */
  #tryNextDeterminate(frame: Frame<S>): "entered" | "skipped" | "incomplete" {
    if (this.#outOfBudget()) return "incomplete";
    const list = this.#list;
    const node = frame.node;
    if (node === NONE || list.isReturn[node] === 1) {
      frame.position++;
      frame.node = list.next[HEAD]!;
      return "skipped";
    }
    // Advance first: after the child frame is undone, the walk resumes here.
    frame.node = list.next[node]!;
    const listIndex = list.operationOf[node]!;
    const operation = this.#operations[this.#determinate[listIndex]!]!;
    const from = frame.closure[frame.position]!;
    const result = this.#model.step(from.state, operation.input, operation.output as O);
    if (!result.ok) return "skipped";
    const key = this.#model.key(result.next);
    this.#cache.toggleDeterminate(listIndex);
    if (!this.#cache.add(key, from.used)) {
      this.#cache.toggleDeterminate(listIndex);
      return "skipped";
    }
    list.lift(listIndex);
    this.#enter(listIndex, result.next, key, from.used);
    return "entered";
  }

  /** Pushes a frame entered by linearizing determinate list operation listIndex (-1: root). */
  #enter(listIndex: number, state: S, key: string, used: Uint32Array): void {
    const closure = [{ state, key, used, parent: -1, operation: -1 }];
    const frame = { entered: listIndex, closure, expanded: 0, candidates: undefined, position: 0, node: this.#list.next[HEAD]! };
    this.#stack.push(frame);
    if (this.#trackDeepest && this.#stack.length - 1 > this.#deepestDeterminate) this.#recordDeepest();
  }

  /** Pops the top frame and relinks the operation that entered it. */
  #leave(): void {
    const frame = this.#stack.pop()!;
    this.#list.unlift(frame.entered);
    this.#cache.toggleDeterminate(frame.entered);
  }

  /**
   * Generates the successors of the next unexpanded closure element: one per
   * indeterminate operation that may go now, is unused, changes the state and
   * is not subsumed in the memo cache. False when out of budget.
   */
  #expand(frame: Frame<S>): boolean {
    const position = frame.expanded++;
    const from = frame.closure[position]!;
    frame.candidates ??= this.#indeterminateCandidates();
    for (const candidate of frame.candidates) {
      if (this.#outOfBudget()) return false;
      if ((from.used[candidate >>> 5]! & (1 << (candidate & 31))) !== 0) continue;
      const operation = this.#operations[this.#indeterminate[candidate]!]!;
      const state = this.#model.stepUnknown!(from.state, operation.input);
      const key = this.#model.key(state);
      if (key === from.key) continue;
      const used = from.used.slice();
      used[candidate >>> 5]! |= 1 << (candidate & 31);
      if (this.#cache.add(key, used)) frame.closure.push({ state, key, used, parent: position, operation: candidate });
    }
    return true;
  }

  /** Indeterminate operations (by position in #indeterminate) called no later than the earliest pending return. */
  #indeterminateCandidates(): number[] {
    const list = this.#list;
    let node = list.next[HEAD]!;
    while (node !== NONE && list.isReturn[node] === 0) node = list.next[node]!;
    const frontier = node === NONE ? Number.POSITIVE_INFINITY : this.#operations[this.#determinate[list.operationOf[node]!]!]!.returnTime!;
    const candidates: number[] = [];
    for (let index = 0; index < this.#indeterminate.length; index++) {
      if (this.#operations[this.#indeterminate[index]!]!.callTime > frontier) break;
      candidates.push(index);
    }
    return candidates;
  }

  #outOfBudget(): boolean {
    return ++this.#steps > this.#stepsMax || this.#deadline.expiredAfterStep();
  }

  /** Records the order on the current path: each frame's indeterminate run, then the next frame's entry. */
  #recordDeepest(): void {
    const order: number[] = [];
    this.#stack.forEach((frame, depth) => {
      if (frame.entered !== -1) order.push(this.#determinate[frame.entered]!);
      if (depth === this.#stack.length - 1) return;
      const run: number[] = [];
      for (let at = frame.position; frame.closure[at]!.parent !== -1; at = frame.closure[at]!.parent) {
        run.push(this.#indeterminate[frame.closure[at]!.operation]!);
      }
      order.push(...run.reverse());
    });
    this.#deepest = order;
    this.#deepestDeterminate = this.#stack.length - 1;
  }
}
