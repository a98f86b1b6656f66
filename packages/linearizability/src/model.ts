/**
 * One operation of a concurrent history, as observed by the client that ran it.
 *
 * An operation is determinate when returnTime is a number: it took effect once,
 * somewhere in [callTime, returnTime], and its output is known (output may be
 * undefined for operations that return nothing). It is indeterminate when
 * returnTime is undefined (timed out, connection lost): it may have taken
 * effect at any time after callTime, or never, and its output is unknown.
 */
export interface Operation<I, O> {
  clientId: number;
  input: I;
  /** Any monotonically comparable number (ticks or ms). */
  callTime: number;
  /** undefined = indeterminate. */
  returnTime: number | undefined;
  /** undefined when indeterminate. */
  output: O | undefined;
}

/** A sequential specification that histories are checked against. States are treated as immutable. */
export interface Model<S, I, O> {
  init(): S;
  /** For a determinate op: is output legal for input in state, and what is the next state? */
  step(state: S, input: I, output: O): { ok: boolean; next: S };
  /**
   * For an indeterminate op: the state after it takes effect (any output is
   * accepted). Required when a history holds indeterminate operations.
   */
  stepUnknown?(state: S, input: I): S;
  /** Splits a history into independent sub-histories (e.g. by key); each is checked on its own. */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** Canonical string of a state: equal strings mean equal states (used for memoization). */
  key(state: S): string;
  describeOperation?(input: I, output: O | undefined): string;
  /** Readable state for explanations; defaults to key(state). */
  describeState?(state: S): string;
}

export type Verdict = "ok" | "illegal" | "unknown";

export interface CheckResult<I, O> {
  verdict: Verdict;
  /**
   * When illegal: the smallest failing sub-history found (one partition,
   * greedily minimized within the time budget) and a readable explanation.
   */
  failing?: { operations: Operation<I, O>[]; explanation: string };
}

export interface CheckOptions {
  /** Give up with verdict "unknown" after this long. Default: no limit. */
  timeBudgetMs?: number;
  /** The only clock the checker reads. Default: () => performance.now(). */
  now?: () => number;
}
