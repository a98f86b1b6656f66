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
 * Sorts `values` in place (callers pass a scratch array).
 */
export function quorumValue(values: number[]): number {
  if (values.length === 0) throw new RangeError("quorumValue needs at least one voter");
  // Insertion sort, descending, in place: groups are tiny (VOTERS_MAX) and this
  // runs on every acknowledgement, so it must not allocate.
  for (let i = 1; i < values.length; i += 1) {
    const value = values[i]!;
    let j = i - 1;
    while (j >= 0 && values[j]! < value) {
      values[j + 1] = values[j]!;
      j -= 1;
    }
    values[j + 1] = value;
  }
  return values[quorumSize(values.length) - 1]!;
}

export type VoteResult = "won" | "lost" | "pending";

/** Outcome of an election given granted and rejected counts among `voterCount` voters. */
export function voteResult(voterCount: number, granted: number, rejected: number): VoteResult {
  const quorum = quorumSize(voterCount);
  if (granted >= quorum) return "won";
  if (voterCount - rejected < quorum) return "lost";
  return "pending";
}
