/**
 * Majority quorum arithmetic over a fixed list of voters. Pure functions: the
 * callers pass per-voter values in voter order, so results never depend on
 * map iteration order.
 */

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value that at least a quorum of voters have reached: the
 * quorum-th largest. With match indexes this is the highest index replicated on
 * a majority (paper §5.3); with ReadIndex rounds, the newest confirmed round.
 */
export function quorumValue(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("quorumValue needs at least one voter");
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[quorumSize(values.length) - 1]!;
}

export type VoteResult = "won" | "lost" | "pending";

/** Outcome of an election given granted and rejected counts among `voterCount` voters. */
export function voteResult(voterCount: number, granted: number, rejected: number): VoteResult {
  const quorum = quorumSize(voterCount);
  if (granted >= quorum) return "won";
  if (voterCount - rejected < quorum) return "lost";
  return "pending";
}
