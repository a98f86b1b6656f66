import { Code, ConnectError } from "@connectrpc/connect";
import { LimitExceededSchema, SessionExpiredSchema, SessionResultForgottenSchema } from "@distcache/proto";
import {
  CacheError,
  CanceledError,
  CounterOverflowError,
  IndeterminateWriteError,
  InvalidArgumentError,
  KeyExistsError,
  NotACounterError,
  ResourceExhaustedError,
  ServerError,
  SessionExpiredError,
  TimeoutError,
  TooManyInFlightError,
  UnauthenticatedError,
  UnavailableError,
  VersionMismatchError,
  WriteResultForgottenError,
} from "./errors.js";

/** The SDK operation a failure belongs to: some codes mean different things per method. */
export type Operation =
  | "get"
  | "mget"
  | "set"
  | "mset"
  | "delete"
  | "mdelete"
  | "incr"
  | "stats"
  | "topology"
  | "transferLeader"
  | "configureStore"
  | "addNode"
  | "removeNode"
  | "watch";

const WRITES: ReadonlySet<Operation> = new Set(["set", "mset", "delete", "mdelete", "incr", "addNode", "removeNode"]);
/** Operations on the cluster's membership, whose already_exists names a node, not a key. */
const MEMBERSHIP: ReadonlySet<Operation> = new Set(["addNode", "removeNode"]);

/** Whether an operation changes state, which decides whether it may be retried blindly. */
export function isWrite(operation: Operation): boolean {
  return WRITES.has(operation);
}

export interface FailureContext {
  operation: Operation;
  /** The key, for single-key operations; batch errors name no key. */
  key?: string;
}

/**
 * Whether a resource_exhausted answer to a write is a shard's refusal of a session with
 * too many unacknowledged writes (not applied; safe to resend with the same sequence),
 * as opposed to a node's bound on request bodies, requests or connections. The node's
 * message says so; it carries no detail.
 */
export function isTooManyInFlight(err: ConnectError): boolean {
  return err.code === Code.ResourceExhausted && /too many unacknowledged writes/i.test(err.rawMessage);
}

function invalidArgument(err: ConnectError): InvalidArgumentError {
  const detail = err.findDetails(LimitExceededSchema)[0];
  const limitExceeded = detail ? { limit: detail.limit, max: detail.max, actual: detail.actual } : undefined;
  return new InvalidArgumentError(err.rawMessage, limitExceeded ? { cause: err, limitExceeded } : { cause: err });
}

/**
 * The error for a write refused as sent under an expired session, after an earlier
 * send of it: that earlier send may have applied.
 */
export function sessionExpiredError(err: ConnectError, context: FailureContext, sentSessionId: string): SessionExpiredError {
  const detail = err.findDetails(SessionExpiredSchema)[0];
  const sessionId = detail?.sessionId || sentSessionId;
  const shard = detail?.shard ?? 0;
  const what = `${context.operation}${context.key === undefined ? "" : ` of "${context.key}"`}`;
  return new SessionExpiredError(
    shard,
    sessionId,
    `${what} may or may not have taken effect: shard ${shard} no longer holds session ${sessionId}, ` +
      `and the write had been sent before under it (${err.rawMessage})`,
    { cause: err },
  );
}

function failedPrecondition(err: ConnectError, context: FailureContext): CacheError {
  const key = context.key ?? "";
  if (isWrite(context.operation) && err.findDetails(SessionExpiredSchema).length > 0) return sessionExpiredError(err, context, "");
  const forgotten = isWrite(context.operation) ? err.findDetails(SessionResultForgottenSchema)[0] : undefined;
  if (forgotten) return new WriteResultForgottenError(forgotten.shard, forgotten.sessionId, forgotten.sequence, err.rawMessage, { cause: err });
  if (context.operation === "incr") return new NotACounterError(key, err.rawMessage, { cause: err });
  if (context.operation === "set") return new VersionMismatchError(key, err.rawMessage, { cause: err });
  return new ServerError(err.rawMessage, err.code, { cause: err });
}

/**
 * Maps a final Connect error to its error class. Callers decide first whether the
 * failure is retried; `indeterminate` marks a write whose outcome is unknown.
 */
export function toCacheError(reason: unknown, context: FailureContext, indeterminate = false): CacheError {
  if (reason instanceof CacheError) return reason;
  const err = ConnectError.from(reason);
  const { operation, key } = context;
  if (indeterminate) {
    return new IndeterminateWriteError(`${operation}${key === undefined ? "" : ` of "${key}"`} may or may not have taken effect: ${err.rawMessage}`, err.code, {
      cause: err,
    });
  }
  switch (err.code) {
    case Code.InvalidArgument:
      return invalidArgument(err);
    case Code.AlreadyExists:
      if (MEMBERSHIP.has(operation)) return new ServerError(err.rawMessage, err.code, { cause: err });
      return new KeyExistsError(key ?? "", err.rawMessage, { cause: err });
    case Code.FailedPrecondition:
      return failedPrecondition(err, context);
    case Code.OutOfRange:
      return new CounterOverflowError(key ?? "", err.rawMessage, { cause: err });
    case Code.DeadlineExceeded:
      if (isWrite(operation)) return new IndeterminateWriteError(err.rawMessage, err.code, { cause: err });
      return new TimeoutError(err.rawMessage, { cause: err });
    case Code.ResourceExhausted:
      if (isWrite(operation) && isTooManyInFlight(err)) return new TooManyInFlightError(err.rawMessage, { cause: err });
      return new ResourceExhaustedError(err.rawMessage, { cause: err });
    case Code.Unavailable:
      return new UnavailableError(err.rawMessage, { cause: err });
    case Code.Canceled:
      return new CanceledError(err.rawMessage, { cause: err });
    case Code.Unauthenticated:
      return new UnauthenticatedError(err.rawMessage, { cause: err });
    default:
      return new ServerError(err.rawMessage, err.code, { cause: err });
  }
}
