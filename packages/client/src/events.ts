/** Why the SDK is retrying a call. */
export type RetryReason =
  /** A node named another leader for the shard (the call was refused before proposing). */
  | "notLeader"
  /** The shard has no known leader right now (an election is running). */
  | "noLeader"
  /** A write was superseded by a new leader and did not take effect. */
  | "writeLost"
  /** The node could not be reached (connection refused) or asked to be retried. */
  | "unreachable"
  /** A read failed in a way that is always safe to repeat. */
  | "readFailed"
  /** The shard no longer held the write's session; the write, never sent before, is resent under a new one. */
  | "sessionExpired"
  /**
   * A write's outcome is unknown (its connection closed, or the leader lost its place);
   * it is resent with the same session and sequence, which the shard applies at most once.
   */
  | "indeterminate"
  /** A node or the shard's leader was at a bound and did nothing ("retry later"): retried after backoff. */
  | "overloaded"
  /** The write's session had too many unacknowledged writes on its shard; it was not applied and is resent with the same sequence after backoff. */
  | "tooManyInFlight";

/** Lifecycle events, reported through the `onEvent` option. */
export type CacheEvent =
  | {
      /** The SDK learned that another node leads the shard (the first time too). */
      type: "leaderChanged";
      shard: number;
      leaderId: string;
    }
  | {
      type: "topologyRefreshed";
      /** The placement epoch the answering node reported. */
      epoch: bigint;
      /** The base URL that answered. */
      source: string;
    }
  | {
      /** A shard no longer held the client's write session, so later writes use a new one. */
      type: "sessionRenewed";
      /** The shard that refused the expired session. */
      shard: number;
      expiredSessionId: string;
      sessionId: string;
    }
  | {
      /** A watch's stream ended, and it is opened again on the next node from the positions delivered. */
      type: "watchReconnect";
      /** The key or prefix watched. */
      key: string;
      /** What ended the stream: the error's message, or "ended" or "silent". */
      reason: string;
      /** How long the SDK waits before it opens the next stream. */
      delayMs: number;
    }
  | {
      type: "retry";
      shard: number;
      /** The attempt about to be made: 2 for the first retry. */
      attempt: number;
      reason: RetryReason;
      /** How long the SDK waits before the attempt. */
      delayMs: number;
    };
