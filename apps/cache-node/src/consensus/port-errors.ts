/**
 * An outcome of a request that the node answers or forwards, not a fault to trace: it
 * captures no stack, which on the request path cost more than the rest of the refusal.
 */
export class RequestOutcome extends Error {
  constructor(message: string) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  }
}

/** A leadership transfer that cannot start or did not finish in time. */
export class TransferError extends Error {
  override name = "TransferError";
  constructor(
    message: string,
    /** True when the request itself is wrong (not a voter); false when it may work later. */
    readonly invalid: boolean,
  ) {
    super(message);
  }
}

/** A membership change of a shard's group that cannot be made now (another is in progress) or at all (it is invalid). */
export class MembershipChangeError extends Error {
  override name = "MembershipChangeError";
  constructor(
    message: string,
    /** True when the change itself is wrong (the node is already a member...); false when it may work later. */
    readonly invalid: boolean,
  ) {
    super(message);
  }
}

/**
 * This node cannot serve the shard: it is not the leader (or has no replica). Carries
 * what the node knows of the leader, so the caller can forward or tell the client.
 */
export class NotLeaderError extends RequestOutcome {
  override name = "NotLeaderError";

  constructor(
    readonly shard: number,
    readonly leaderId: string | undefined,
    readonly reason: string,
  ) {
    super(`node does not lead shard ${shard} (${reason})${leaderId ? `; leader is ${leaderId}` : "; no leader known"}`);
  }
}

/** The outcome of a write is unknown: it may or may not have been applied. */
export class IndeterminateError extends RequestOutcome {
  override name = "IndeterminateError";
}

/** The write was proposed but a new leader replaced it: it did not take effect, and may be retried. */
export class WriteLostError extends RequestOutcome {
  override name = "WriteLostError";

  constructor(
    readonly shard: number,
    readonly leaderId: string | undefined,
  ) {
    super(`shard ${shard}: the write was superseded by a new leader and did not take effect; retry`);
  }
}

/**
 * The shard is too busy to take the request now (its leader holds as many uncommitted
 * entries or pending reads as it may, or this replica as many strong reads): nothing
 * was done, and the client may retry after a pause.
 */
export class OverloadedError extends RequestOutcome {
  override name = "OverloadedError";
}

/**
 * The error for a request the Raft core dropped: overloaded for the bounds above, a
 * MembershipChangeError for a membership change it refused, NotLeader otherwise.
 */
export function droppedError(shard: number, dropped: { reason: string; leaderHint: string | undefined; detail?: string }): Error {
  if (dropped.reason === "invalid-config-change") return new MembershipChangeError(`shard ${shard}: ${dropped.detail ?? dropped.reason}`, true);
  if (dropped.reason === "config-change-pending") {
    return new MembershipChangeError(`shard ${shard}: ${dropped.detail ?? "another membership change is in progress"}; retry later`, false);
  }
  if (dropped.reason === "uncommitted-limit") return new OverloadedError(`shard ${shard}: too many writes are waiting to commit; retry later`);
  if (dropped.reason === "read-queue-full") return new OverloadedError(`shard ${shard}: its leader holds as many strong reads as it may; retry later`);
  return new NotLeaderError(shard, dropped.leaderHint, dropped.reason);
}
