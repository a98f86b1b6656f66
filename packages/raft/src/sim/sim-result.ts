import type { Coverage } from "./coverage.js";

/** How a run failed; safety properties first, then the end-of-run verdicts. */
export type FailureKind =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "commit-quorum"
  | "assertion"
  | "liveness"
  | "linearizability"
  | "error";

export interface SimFailure {
  readonly kind: FailureKind;
  readonly message: string;
  readonly atTick: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodeCount: number;
  readonly ok: boolean;
  readonly failure: SimFailure | undefined;
  readonly coverage: Coverage;
  readonly replay: string;
}
