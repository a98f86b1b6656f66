import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LimitExceededSchema } from "@distcache/proto";

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
