import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import type { ClusterService } from "@distcache/proto";
import type { ResolvedOptions } from "./client-options.js";
import { toCacheError } from "./error-mapping.js";
import { CanceledError, IndeterminateWriteError, UnavailableError, type CacheError } from "./errors.js";
import { answeredByServer, backoffDelayMs, neverReachedNode } from "./retry-policy.js";
import type { CallBudget } from "./shard-router.js";

/** The header that carries an administrator's token on ClusterService.AddNode and RemoveNode. */
export const ADMIN_TOKEN_HEADER = "distcache-admin-token";

/** A node as AddNode names it. */
export interface ClusterNode {
  /** 1 to 64 of A-Z, a-z, 0-9, "_", "." and "-"; ids are never reused. */
  id: string;
  /** host:port serving the client API. */
  clientAddress: string;
  /** host:port of the peer (Raft) listener. */
  peerAddress: string;
}

export type MembershipOperation = "addNode" | "removeNode";

type ClusterClient = Client<typeof ClusterService>;

/** One attempt of a membership change at a node. */
export type MembershipSend<R> = (client: ClusterClient, options: CallOptions) => Promise<R>;

/**
 * Whether a failed attempt is retried: only an `unavailable` answer from a node (no meta
 * leader known yet, its leadership moved, or the change may not have been written; each
 * says "retry"). AddNode and RemoveNode are idempotent on the node (adding a member again
 * with the same addresses, or removing one that is leaving, answers the current epoch),
 * so repeating one after such an answer is safe.
 */
function retryable(err: ConnectError): boolean {
  return err.code === Code.Unavailable && answeredByServer(err);
}

/** The error for a final failure: the node's answer mapped, or, with no answer after a send, an outcome unknown. */
function membershipFailure(err: ConnectError, operation: MembershipOperation, aborted: boolean): CacheError {
  if (answeredByServer(err) || neverReachedNode(err)) return toCacheError(err, { operation });
  if (aborted) {
    return new IndeterminateWriteError(`${operation} was canceled after it was sent and may or may not have taken effect; it is safe to repeat`, err.code, {
      cause: err,
    });
  }
  return toCacheError(err, { operation }, true);
}

/**
 * Sends a membership change to one node with the admin token; the node forwards it to
 * the meta group's leader itself. A node's `unavailable` answer is retried at the same
 * node after backoff, within the budget's deadline and attemptsMax; any other failure is
 * final: a refused connection, the node's other answers (`unauthenticated` among them),
 * or a send left without an answer (IndeterminateWriteError: repeating it is safe).
 */
export async function sendMembershipChange<R>(
  options: ResolvedOptions,
  client: ClusterClient,
  operation: MembershipOperation,
  adminToken: string,
  budget: CallBudget,
  send: MembershipSend<R>,
): Promise<R> {
  const headers = { [ADMIN_TOKEN_HEADER]: adminToken };
  let last: ConnectError | undefined;
  for (let attempt = 1; ; attempt++) {
    if (budget.signal?.aborted) throw new CanceledError(`${operation} was canceled`, { cause: last });
    const timeoutMs = budget.deadlineMs - options.clock.nowMs();
    if (timeoutMs <= 0 && last) throw new UnavailableError(`${operation} did not succeed within its deadline: ${last.rawMessage}`, { cause: last });
    try {
      return await send(client, { timeoutMs: Math.max(1, timeoutMs), signal: budget.signal, headers });
    } catch (reason) {
      const err = ConnectError.from(reason);
      const aborted = budget.signal?.aborted === true;
      if (aborted || !retryable(err)) throw membershipFailure(err, operation, aborted);
      last = err;
      const delayMs = backoffDelayMs(attempt, options.backoffMsMin, options.backoffMsMax, options.random);
      if (attempt >= options.attemptsMax || options.clock.nowMs() + delayMs >= budget.deadlineMs) {
        throw new UnavailableError(`${operation} failed after ${attempt} attempts: ${err.rawMessage}`, { cause: err });
      }
      await options.sleep(delayMs, budget.signal);
    }
  }
}
