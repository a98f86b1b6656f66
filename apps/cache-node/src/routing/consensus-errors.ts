import { Code, ConnectError } from "@connectrpc/connect";
import { IndeterminateError, OverloadedError } from "../consensus/port-errors.js";

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
