import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type CallOptions, type Client, type HandlerContext } from "@connectrpc/connect";
import { NotLeaderSchema, RequestHeaderSchema, type CacheService, type RequestHeader } from "@distcache/proto";
import type { Forwarder, MemberDirectory } from "./forwarder.js";
import { consensusFailure } from "./consensus-errors.js";
import { NotLeaderError, WriteLostError } from "../consensus/port-errors.js";

export interface RoutingDeps {
  nodeId: string;
  forwarder: Forwarder | undefined;
  directory: MemberDirectory;
  /** Deadline for a forwarded call when the caller gave none. */
  forwardTimeoutMs: number;
  onForward: (method: string) => void;
  epoch: () => number;
  /** Resolves true once the shard has a known leader, false after timeoutMs. */
  awaitLeader?: (shard: number, timeoutMs: number) => Promise<boolean>;
  /** Longest wait for a leader before answering "no leader known". */
  leaderWaitMs: number;
}

type Remote<R> = (client: Client<typeof CacheService>, options: CallOptions) => Promise<R>;

/**
 * Runs a request on this node, or forwards it (one hop, with the caller's deadline) to
 * the shard's leader when this node cannot serve it. A caller that set no_forward gets
 * the NotLeader detail instead. A write is forwarded only when it was refused before
 * being proposed here, so a forward is never a retry of a write that may have applied.
 * A forwarded call carries the caller's deadline, not its abort signal: building the
 * signal cost more per call than a call that outlives a departed caller until its deadline.
 */
export function createRouter(deps: RoutingDeps) {
  const notLeader = (err: NotLeaderError | WriteLostError): ConnectError => {
    // A leader that cannot confirm its own leadership in time names itself: to a client
    // that is "no usable leader right now", so the answer is unavailable, retry.
    const leaderId = err.leaderId === deps.nodeId ? "" : (err.leaderId ?? "");
    const detail = create(NotLeaderSchema, {
      shard: err.shard,
      leaderId,
      leaderAddress: leaderId ? (deps.directory.clientAddress(leaderId) ?? "") : "",
      epoch: BigInt(deps.epoch()),
    });
    const code = err instanceof WriteLostError || !leaderId ? Code.Unavailable : Code.FailedPrecondition;
    const message = code === Code.Unavailable && !(err instanceof WriteLostError) ? `${err.message}; retry` : err.message;
    return new ConnectError(message, code, undefined, [{ desc: NotLeaderSchema, value: detail }]);
  };

  /**
   * Runs local(); if it was refused because no leader is known yet (an election is
   * running, or this node just started), waits a bounded time for one and tries once
   * more, so a caller that does not route by itself (curl) rarely sees the gap.
   * The refusal came before anything was proposed, so the second try is safe.
   */
  async function runLocal<R>(shard: number, header: RequestHeader | undefined, ctx: HandlerContext, local: () => Promise<R>): Promise<R> {
    try {
      return await local();
    } catch (err) {
      if (!(err instanceof NotLeaderError) || err.leaderId || header?.noForward || !deps.awaitLeader) throw err;
      const waitMs = Math.min(ctx.timeoutMs() ?? deps.forwardTimeoutMs, deps.leaderWaitMs);
      if (!(await deps.awaitLeader(shard, waitMs))) throw err;
      return local();
    }
  }

  async function run<R>(shard: number, header: RequestHeader | undefined, ctx: HandlerContext, local: () => Promise<R>, remote: Remote<R>): Promise<R> {
    try {
      return await runLocal(shard, header, ctx, local);
    } catch (err) {
      if (err instanceof WriteLostError) throw notLeader(err);
      const failure = consensusFailure(err);
      if (failure) throw failure;
      if (!(err instanceof NotLeaderError)) throw err;
      const client = err.leaderId && err.leaderId !== deps.nodeId ? deps.forwarder?.client(err.leaderId) : undefined;
      if (header?.noForward || !client) throw notLeader(err);
      deps.onForward(ctx.method.name);
      const remainingMs = ctx.timeoutMs();
      if (remainingMs !== undefined && remainingMs < 1)
        throw new ConnectError("the deadline passed before the request could be forwarded", Code.DeadlineExceeded);
      const options = { timeoutMs: Math.floor(remainingMs ?? deps.forwardTimeoutMs) };
      try {
        return await remote(client, options);
      } catch (remoteErr) {
        // The node we guessed (a replica, for a shard this node does not hold) refused
        // before proposing and named the leader: one more try there is still safe.
        const redirect = redirectTarget(remoteErr, err.leaderId);
        const next = redirect && redirect !== deps.nodeId ? deps.forwarder?.client(redirect) : undefined;
        if (!next) throw forwardingFailure(remoteErr, err.leaderId);
        try {
          return await remote(next, options);
        } catch (secondErr) {
          throw forwardingFailure(secondErr, redirect);
        }
      }
    }
  }

  /** The NotLeader answer for a shard this node cannot serve, without trying anything. */
  const refuse = (shard: number, leaderId: string | undefined, reason: string): ConnectError => notLeader(new NotLeaderError(shard, leaderId, reason));

  return { run, refuse };
}

export type Router = ReturnType<typeof createRouter>;

/**
 * A failure of the forwarded call itself (connection refused or reset) becomes
 * UNAVAILABLE: the leader may have died, and a write may or may not have applied.
 * Errors the leader answered with pass through unchanged.
 */
function forwardingFailure(err: unknown, leaderId: string | undefined): ConnectError {
  const e = ConnectError.from(err);
  // An error the leader answered with passes through, without the leader's response
  // headers: they describe that HTTP/1.1 response (connection, keep-alive, lengths), and
  // copied into this node's answer (an HTTP/2 one, say) they are invalid there.
  if (e.metadata.has("content-type")) {
    for (const key of [...e.metadata.keys()]) e.metadata.delete(key);
    // The leader this node followed refused before proposing and named yet another one
    // (the leadership moved twice, or is moving): to a caller that lets nodes forward,
    // that is "no usable leader right now", safe to retry, as a refusal here would be.
    const notLeader = e.code === Code.FailedPrecondition ? e.findDetails(NotLeaderSchema)[0] : undefined;
    if (notLeader)
      return new ConnectError(`${e.rawMessage}; the shard's leadership is moving, retry`, Code.Unavailable, undefined, [
        { desc: NotLeaderSchema, value: notLeader },
      ]);
    return e;
  }
  const outcome = e.code === Code.Unavailable ? "retry" : "a write may or may not have taken effect";
  return new ConnectError(`forwarding to leader ${leaderId ?? "?"} failed (${e.rawMessage}); ${outcome}`, Code.Unavailable);
}

function redirectTarget(err: unknown, tried: string | undefined): string | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.FailedPrecondition) return undefined;
  const leader = err.findDetails(NotLeaderSchema)[0]?.leaderId;
  return leader && leader !== tried ? leader : undefined;
}

/** The header a forwarded request carries: same session, no further forwarding. */
export function forwardHeader(header: RequestHeader | undefined): RequestHeader {
  return create(RequestHeaderSchema, {
    sessionId: header?.sessionId ?? "",
    sequence: header?.sequence ?? 0n,
    ackedSequence: header?.ackedSequence ?? 0n,
    sessionStartedMs: header?.sessionStartedMs ?? 0n,
    noForward: true,
  });
}
