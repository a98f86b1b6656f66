import { Code } from "@connectrpc/connect";

/**
 * The base of every error the SDK throws. Each failure kind is its own subclass, so
 * callers branch with `instanceof`; `code` is the Connect code the kind corresponds to,
 * and `cause` holds the underlying error (usually a ConnectError) when there is one.
 */
export class CacheError extends Error {
  override name = "CacheError";
  readonly code: Code;

  constructor(message: string, code: Code, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The bound a request broke, from the server's LimitExceeded detail. */
export interface LimitExceededInfo {
  /** The bound's name, for example "value_bytes_max". */
  limit: string;
  max: bigint;
  actual: bigint;
}

/** The request was malformed or broke a size limit (invalid_argument). Never retried. */
export class InvalidArgumentError extends CacheError {
  override name = "InvalidArgumentError";
  /** Present when the server said which configured bound the request broke. */
  readonly limitExceeded: LimitExceededInfo | undefined;

  constructor(message: string, options?: { cause?: unknown; limitExceeded?: LimitExceededInfo }) {
    super(message, Code.InvalidArgument, options);
    this.limitExceeded = options?.limitExceeded;
  }
}

/** `create` (or `set` with `ifAbsent`) found the key present (already_exists). */
export class KeyExistsError extends CacheError {
  override name = "KeyExistsError";

  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.AlreadyExists, options);
  }
}

/** `update` (or `set` with `ifVersion`) found another version (failed_precondition). */
export class VersionMismatchError extends CacheError {
  override name = "VersionMismatchError";

  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.FailedPrecondition, options);
  }
}

/** `incr` on a key whose value is not a signed 64-bit integer (failed_precondition). */
export class NotACounterError extends CacheError {
  override name = "NotACounterError";

  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.FailedPrecondition, options);
  }
}

/** `incr` would leave the signed 64-bit range (out_of_range); the counter is unchanged. */
export class CounterOverflowError extends CacheError {
  override name = "CounterOverflowError";

  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.OutOfRange, options);
  }
}

/**
 * The call did not complete within its deadline and had no effect (deadline_exceeded):
 * a read, or a write that every node refused until the deadline. A write that timed
 * out after it was sent is an IndeterminateWriteError instead.
 */
export class TimeoutError extends CacheError {
  override name = "TimeoutError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, Code.DeadlineExceeded, options);
  }
}

/**
 * A write may or may not have taken effect. After a timeout or a broken connection the
 * SDK resends a write with the same session and sequence, which the shard applies at
 * most once (invariant 4 of docs/design.md). This error means that, after such a send,
 * the deadline or the attempts ran out, the caller canceled, or a resend met a refusal
 * that is not the write's outcome. Read the key to learn it. `code` is the failure's own
 * code.
 */
export class IndeterminateWriteError extends CacheError {
  override name = "IndeterminateWriteError";

  constructor(message: string, code: Code, options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/**
 * A shard refused a write because it no longer holds the client session the write was
 * sent under (the session idled out, or was evicted by the shard's bound on sessions),
 * and the same write had been sent before, under that session. The refused send was not
 * applied, but the earlier send may have been: the outcome is unknown, as for every
 * IndeterminateWriteError (code failed_precondition). Read the key to learn it.
 *
 * The client has already started a new session for later writes. A write refused this
 * way on its first send is not reported: it is resent once under the new session.
 */
export class SessionExpiredError extends IndeterminateWriteError {
  override name = "SessionExpiredError";

  constructor(
    /** The shard that refused the write. */
    readonly shard: number,
    /** The expired session. */
    readonly sessionId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.FailedPrecondition, options);
  }
}

/**
 * No node could serve the call before the deadline or the attempts ran out (unavailable).
 * For a write this means every attempt was refused before it was proposed: it did not
 * take effect, and the caller may try again later.
 */
export class UnavailableError extends CacheError {
  override name = "UnavailableError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, Code.Unavailable, options);
  }
}

/**
 * The node refused the call for lack of resources (resource_exhausted): the request body was
 * larger than it accepts, or, from the SDK, no write slot freed before the deadline
 * (`writesInFlightMax`).
 */
export class ResourceExhaustedError extends CacheError {
  override name = "ResourceExhaustedError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, Code.ResourceExhausted, options);
  }
}

/**
 * A shard refused a write because its session had too many unacknowledged writes
 * (resource_exhausted). The write was not applied. The SDK retries it after backoff
 * under the same session and sequence, and reports this error only when the attempts or
 * the deadline ran out; the caller may then try again later.
 */
export class TooManyInFlightError extends ResourceExhaustedError {
  override name = "TooManyInFlightError";
}

/**
 * A shard refused a write whose sequence its session had already acknowledged, and no
 * longer keeps that write's result (failed_precondition, SessionResultForgotten detail).
 * Nothing was applied by this send; the SDK never retries it. It means a late duplicate
 * of a write the client had already finished.
 */
export class WriteResultForgottenError extends CacheError {
  override name = "WriteResultForgottenError";

  constructor(
    /** The shard that refused the write. */
    readonly shard: number,
    /** The session the write was sent under. */
    readonly sessionId: string,
    /** The refused write's sequence. */
    readonly sequence: bigint,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.FailedPrecondition, options);
  }
}

/**
 * The node refused the call for lack of credentials (unauthenticated): AddNode and
 * RemoveNode need the admin token of the cluster's peer secret. Never retried.
 */
export class UnauthenticatedError extends CacheError {
  override name = "UnauthenticatedError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, Code.Unauthenticated, options);
  }
}

/** The caller's signal aborted the call before it could complete (canceled). */
export class CanceledError extends CacheError {
  override name = "CanceledError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, Code.Canceled, options);
  }
}

/** The client was closed; no further calls are made (canceled). */
export class ClientClosedError extends CacheError {
  override name = "ClientClosedError";

  constructor() {
    super("the cache client is closed", Code.Canceled);
  }
}

/** Any other failure the server reported (internal, unimplemented, ...); `code` says which. */
export class ServerError extends CacheError {
  override name = "ServerError";

  constructor(message: string, code: Code, options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/**
 * A watch's start (or the point it resumes from) is older than the change history the
 * shard retains (out_of_range, Compacted detail). Events after it are gone: read the keys
 * again and watch from the position of that read.
 */
export class WatchCompactedError extends CacheError {
  override name = "WatchCompactedError";

  constructor(
    /** The shard whose history no longer reaches back to the start. */
    readonly shard: number,
    /** The oldest position that shard still holds: a watch may start at it or later. */
    readonly oldest: { index: bigint; ordinal: number },
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, Code.OutOfRange, options);
  }
}
