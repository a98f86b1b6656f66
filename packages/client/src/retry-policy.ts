import { Code, type ConnectError } from "@connectrpc/connect";
import { NotLeaderSchema, SessionExpiredSchema } from "@distcache/proto";
import { isTooManyInFlight } from "./error-mapping.js";
import type { RetryReason } from "./events.js";

/** What to do after a failed attempt. */
export type Verdict =
  /** Retry at the named leader: the node refused before proposing, so nothing took effect. */
  | { type: "redirect"; reason: RetryReason; shard: number; leaderId: string; leaderAddress: string; epoch: bigint }
  /** Retry once the leader is known again (refresh the topology first); nothing took effect. */
  | { type: "rediscover"; reason: RetryReason }
  /**
   * A write refused, not applied, because its shard no longer holds the session it was
   * sent under: the caller starts a new session, and resends the write only if no
   * earlier send of it reached a node.
   */
  | { type: "sessionExpired"; shard: number; sessionId: string; startedAfterMs: bigint }
  /**
   * A write refused, not applied, because its session had too many unacknowledged writes:
   * retried after backoff, at the same node, with the same session and sequence.
   */
  | { type: "backoff"; reason: "tooManyInFlight" | "overloaded" }
  /**
   * A write that may have taken effect: resent with the same session and sequence (the
   * shard applies it at most once) until answered or its deadline passes.
   */
  | { type: "indeterminate" }
  /** A final answer: map it to its error class. */
  | { type: "fail" };

/** Node error codes that mean the connection was never made, so no request reached a server. */
const NOT_CONNECTED_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"]);

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e instanceof Error && !chain.includes(e); e = e.cause) chain.push(e);
  return chain;
}

function neverConnected(err: ConnectError): boolean {
  const byCode = causeChain(err).some((e) => NOT_CONNECTED_CODES.has(String((e as { code?: unknown }).code)));
  return byCode || /ECONNREFUSED|connection refused/i.test(err.rawMessage);
}

/**
 * Whether an `unavailable` error proves that the request did not take effect: the
 * connection was refused, the HTTP/2 stream was refused (RFC 9113 §8.7: not processed),
 * or the node said so ("...; retry") without the "may or may not" caveat.
 */
export function provesNotApplied(err: ConnectError): boolean {
  if (err.code !== Code.Unavailable) return false;
  if (/may or may not/i.test(err.rawMessage)) return false;
  return neverConnected(err) || /REFUSED_STREAM/.test(err.rawMessage) || /\bretry\b/i.test(err.rawMessage);
}

/** True when a node answered (the error carries response headers), not the transport. */
export function answeredByServer(err: ConnectError): boolean {
  return err.metadata.has("content-type");
}

/**
 * Whether the request provably never reached a node's handler: the connection was
 * refused, the HTTP/2 stream was refused (RFC 9113 §8.7: not processed), or the SDK
 * never sent it, and no node answered. Such an attempt was not a send of the write at all.
 */
export function neverReachedNode(err: ConnectError): boolean {
  if (err.code !== Code.Unavailable || answeredByServer(err)) return false;
  // "it was not sent": a call the SDK held back (call-batching.ts) until its deadline passed.
  return neverConnected(err) || /REFUSED_STREAM|\bit was not sent\b/.test(err.rawMessage);
}

/** Codes a read may always be retried after: its failure says nothing final about the key. */
const READ_RETRY_CODES = new Set([Code.Unavailable, Code.Aborted, Code.DeadlineExceeded]);
/** Codes a broken connection surfaces as; when no node answered, the call's fate is unknown. */
const TRANSPORT_CODES = new Set([Code.Aborted, Code.Canceled, Code.Unknown, Code.Internal]);

function notLeaderVerdict(err: ConnectError): Verdict | undefined {
  if (err.code !== Code.FailedPrecondition && err.code !== Code.Unavailable) return undefined;
  const detail = err.findDetails(NotLeaderSchema)[0];
  if (!detail) return undefined;
  // Unavailable + NotLeader is a write superseded by a new leader, or no leader known.
  const reason: RetryReason = err.code === Code.Unavailable && detail.leaderId ? "writeLost" : detail.leaderId ? "notLeader" : "noLeader";
  if (!detail.leaderId) return { type: "rediscover", reason };
  return { type: "redirect", reason, shard: detail.shard, leaderId: detail.leaderId, leaderAddress: detail.leaderAddress, epoch: detail.epoch };
}

/**
 * A node refused the call without doing anything because it, or the shard's leader, is at
 * a bound (requests in flight, uncommitted entries, pending strong reads): `resource_exhausted`
 * with "retry later". Retried after backoff.
 */
export function isOverloaded(err: ConnectError): boolean {
  return err.code === Code.ResourceExhausted && answeredByServer(err) && /\bretry later\b/i.test(err.rawMessage);
}

/**
 * Classifies a failed attempt (invariant 4 of docs/design.md). A read may always be retried after a
 * transient failure. A write is retried at once only when the error proves it did not take
 * effect: a NotLeader refusal, or `unavailable` that says so. After a deadline, a reset
 * or an unexplained `unavailable`, it may have applied: it is resent with its session and
 * sequence after backoff (the router's "indeterminate" handling).
 * A SessionExpired refusal of a write is its own verdict: the write was not applied, but
 * whether it may be resent depends on its earlier sends (see ShardRouter.call).
 */
export function classifyFailure(err: ConnectError, write: boolean): Verdict {
  const routed = notLeaderVerdict(err);
  if (routed) return routed;
  const expired = err.code === Code.FailedPrecondition ? err.findDetails(SessionExpiredSchema)[0] : undefined;
  // Reads carry no session: a SessionExpired answer to one is a server fault, reported as is.
  if (expired)
    return write ? { type: "sessionExpired", shard: expired.shard, sessionId: expired.sessionId, startedAfterMs: expired.startedAfterMs } : { type: "fail" };
  if (write && isTooManyInFlight(err)) return { type: "backoff", reason: "tooManyInFlight" };
  if (isOverloaded(err)) return { type: "backoff", reason: "overloaded" };
  if (provesNotApplied(err)) return { type: "rediscover", reason: "unreachable" };
  const transportFailure = TRANSPORT_CODES.has(err.code) && !answeredByServer(err);
  if (write) {
    const mayHaveApplied = err.code === Code.Unavailable || err.code === Code.DeadlineExceeded || transportFailure;
    return mayHaveApplied ? { type: "indeterminate" } : { type: "fail" };
  }
  if (READ_RETRY_CODES.has(err.code) || transportFailure) return { type: "rediscover", reason: "readFailed" };
  return { type: "fail" };
}

/**
 * The wait before the retry-th retry that backs off (1 for the first): exponential from
 * backoffMsMin, capped at backoffMsMax, with the upper half jittered so that clients
 * that failed together do not retry together.
 */
export function backoffDelayMs(retry: number, backoffMsMin: number, backoffMsMax: number, random: () => number): number {
  const base = Math.min(backoffMsMax, backoffMsMin * 2 ** Math.min(retry - 1, 30));
  return Math.round(base / 2 + (random() * base) / 2);
}
