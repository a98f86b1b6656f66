import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LimitExceededSchema } from "@distcache/proto";
import { IndeterminateError, OverloadedError } from "./raft-host/not-leader-error.js";

/** INVALID_ARGUMENT for a request that breaks a configured bound, with a LimitExceeded detail. */
export function limitExceeded(what: string, limit: string, max: number, actual: number): ConnectError {
  return new ConnectError(`${what} is ${actual} bytes, above the limit of ${max} (${limit})`, Code.InvalidArgument, undefined, [
    { desc: LimitExceededSchema, value: create(LimitExceededSchema, { limit, max: BigInt(max), actual: BigInt(actual) }) },
  ]);
}

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Maps an unexpected failure inside the node to a Connect error without leaking internals. */
export function internalError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof Error && err.message === "node is shutting down") return new ConnectError(err.message, Code.Unavailable);
  return new ConnectError(`internal error: ${err instanceof Error ? err.message : String(err)}`, Code.Internal, undefined, undefined, err);
}

/**
 * The answer to a consensus failure that means the same on every request path: a write
 * whose outcome is unknown (deadline_exceeded), or a shard at one of its bounds with
 * nothing done (resource_exhausted, "retry later"). Undefined for any other error.
 */
export function consensusFailure(err: unknown): ConnectError | undefined {
  if (err instanceof IndeterminateError) return new ConnectError(err.message, Code.DeadlineExceeded);
  if (err instanceof OverloadedError) return new ConnectError(err.message, Code.ResourceExhausted);
  return undefined;
}
