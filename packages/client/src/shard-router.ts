import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import type { CacheService } from "@distcache/proto";
import type { ResolvedOptions } from "./client-options.js";
import { isWrite, sessionExpiredError, toCacheError, type FailureContext } from "./error-mapping.js";
import { CanceledError, IndeterminateWriteError, TimeoutError, UnavailableError, type CacheError } from "./errors.js";
import { baseUrlOf, type NodeClients } from "./node-clients.js";
import type { RetryReason } from "./events.js";
import { answeredByServer, backoffDelayMs, classifyFailure, neverReachedNode, type Verdict } from "./retry-policy.js";
import type { RoutingTable } from "./routing-table.js";
import { topologyFromMessage, withDiallableAddresses, type Topology } from "./topology.js";

/** The time and cancellation a call may spend, retries included. */
export interface CallBudget {
  deadlineMs: number;
  signal: AbortSignal | undefined;
}

/** Sends one attempt to one node. */
export type Send<R> = (client: Client<typeof CacheService>, options: CallOptions) => Promise<R>;

/** A topology pass that asked no node: none was known, or its time ran out first. */
const NOTHING_ASKED = new Error("no node to ask");

/** Redirects to a newly named leader followed without waiting, per call. */
export const IMMEDIATE_REDIRECTS_MAX = 2;

/** A topology request gets at most this long per node, so a frozen node cannot use up the call. */
export const TOPOLOGY_ATTEMPT_MS_MAX = 1000;

/** A write's hold on its session, for the router to move it when a shard says the session expired. */
export interface WriteSessionHandle {
  /** The session the write's next attempt is sent under. */
  readonly sessionId: string;
  /**
   * Takes the write off the session the shard refused, first starting a new session if
   * that one is still the client's current one; with `resend`, the write's later attempts
   * go under the client's current session, with a new sequence there.
   */
  renew(shard: number, resend: boolean, startedAfterMs: bigint): void;
}

/** One call's progress over its attempts. */
interface CallState {
  readonly shard: number;
  readonly context: FailureContext;
  readonly budget: CallBudget;
  readonly session: WriteSessionHandle | undefined;
  readonly write: boolean;
  /** Whether an attempt so far reached a node: it was sent, under some session. */
  sent: boolean;
  /** Whether an attempt so far may have applied: any final failure is then indeterminate. */
  mayHaveApplied: boolean;
  readonly unreachable: Set<string>;
  backoffs: number;
  immediateRedirects: number;
  lastError: ConnectError | undefined;
}

/** How a failed attempt is retried: after delayMs, and with the topology refreshed first when rediscover. */
interface Retry {
  reason: RetryReason;
  delayMs: number;
  rediscover: boolean;
}

interface Target {
  address: string;
  /** The node id when the target is the shard's believed leader. */
  leaderId: string | undefined;
}

/**
 * Sends calls to shard leaders and retries them by the rules of retry-policy.ts, within
 * the call's deadline and the attempts limit. It keeps the routing table current from
 * NotLeader details and topology answers.
 */
export class ShardRouter {
  private refreshing: Promise<Topology> | undefined;
  private nextAnyNode = 0;
  private answeredBy: string | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly table: RoutingTable,
    private readonly clients: NodeClients,
  ) {}

  /** Fetches the topology once, before the first keyed call. */
  async ensureTopology(budget: CallBudget): Promise<void> {
    if (!this.table.ready) await this.topology(budget);
  }

  /** A fresh topology, retried with backoff until some node answers. */
  async topology(budget: CallBudget): Promise<Topology> {
    // What the last node asked answered: a pass that ran out of time before asking any
    // node reports that, not its own emptiness.
    let lastAnswer: ConnectError | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.refresh(budget);
      } catch (reason) {
        const err = reason === NOTHING_ASKED && lastAnswer ? lastAnswer : ConnectError.from(reason);
        lastAnswer = err;
        if (budget.signal?.aborted) throw new CanceledError("topology request canceled", { cause: err });
        const delayMs = backoffDelayMs(attempt, this.options.backoffMsMin, this.options.backoffMsMax, this.options.random);
        if (attempt >= this.options.attemptsMax || this.options.clock.nowMs() + delayMs >= budget.deadlineMs) {
          throw new UnavailableError(`no node answered GetTopology (tried ${this.candidates().join(", ")}): ${err.rawMessage}`, { cause: err });
        }
        await this.options.sleep(delayMs, budget.signal);
      }
    }
  }

  /**
   * One pass over the known nodes and seeds; concurrent callers share it, each waiting
   * no longer than its own deadline and abort signal allow (the pass runs on the budget
   * of the caller that started it).
   */
  private refresh(budget: CallBudget): Promise<Topology> {
    this.refreshing ??= this.refreshOnce(budget).finally(() => (this.refreshing = undefined));
    return withinBudget(this.refreshing, budget, this.options.clock.nowMs());
  }

  private async refreshOnce(budget: CallBudget): Promise<Topology> {
    let lastError: unknown = NOTHING_ASKED;
    for (const baseUrl of this.candidates()) {
      const remainingMs = budget.deadlineMs - this.options.clock.nowMs();
      if (remainingMs <= 0 || budget.signal?.aborted) break;
      try {
        const timeoutMs = Math.min(remainingMs, TOPOLOGY_ATTEMPT_MS_MAX);
        const response = await this.clients.forBaseUrl(baseUrl).cluster.getTopology({}, { timeoutMs, signal: budget.signal });
        const topology = withDiallableAddresses(topologyFromMessage(response.topology), new URL(baseUrl).host);
        this.table.apply(topology);
        this.answeredBy = baseUrl;
        this.options.onEvent({ type: "topologyRefreshed", epoch: topology.epoch, source: baseUrl });
        return topology;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  /** The base URL of the node whose GetTopology answer was applied last: one that was up then. */
  get lastTopologySource(): string | undefined {
    return this.answeredBy;
  }

  /** Known nodes first (starting at a rotating one, to spread the load), then the seeds. */
  private candidates(): string[] {
    const nodes = this.table.nodeAddresses().map((a) => this.clients.baseUrlForAddress(a));
    const start = nodes.length === 0 ? 0 : this.nextAnyNode++ % nodes.length;
    const rotated = [...nodes.slice(start), ...nodes.slice(0, start)];
    return [...new Set([...rotated, ...this.options.seeds.map(baseUrlOf)])];
  }

  /** The shard's leader, or any node (which will name the leader) while it is unknown. */
  private target(shard: number, unreachable: ReadonlySet<string>): Target {
    const leader = this.table.leaderOf(shard);
    if (leader) return { address: leader.address, leaderId: leader.id };
    const nodes = [...new Set([...this.table.nodeAddresses(), ...this.options.seeds.map((s) => s.host)])];
    const usable = nodes.filter((a) => !unreachable.has(a));
    const pool = usable.length > 0 ? usable : nodes;
    return { address: pool[this.nextAnyNode++ % pool.length]!, leaderId: undefined };
  }

  /**
   * Runs send at the shard's leader, retrying as the policy allows. Throws a CacheError:
   * the mapped final error, IndeterminateWriteError, or UnavailableError when attempts
   * or time ran out with every failure proven harmless.
   *
   * A write whose outcome is unknown (its connection closed, or its node gave up on it) is
   * sent again with the same session and sequence until it is answered or its deadline
   * passes: the shard applies a sequence at most once and answers a repeat with the
   * first result (invariant 4 of docs/design.md). Only a write whose deadline passes after such a
   * send stays indeterminate.
   *
   * A write refused because its shard no longer holds its session moves to a new session
   * (through `session`). If no earlier attempt of it reached a node, that refusal was its
   * first send and did not apply, so it is resent at once under the new session. Otherwise
   * an earlier send may have applied under the old session, which can no longer answer
   * a repeat, so it fails with SessionExpiredError (an IndeterminateWriteError).
   */
  async call<R>(shard: number, context: FailureContext, send: Send<R>, budget: CallBudget, session?: WriteSessionHandle): Promise<R> {
    const call: CallState = {
      shard,
      context,
      budget,
      session,
      write: isWrite(context.operation),
      sent: false,
      mayHaveApplied: false,
      unreachable: new Set(),
      backoffs: 0,
      immediateRedirects: 0,
      lastError: undefined,
    };
    for (let attempt = 1; ; attempt++) {
      const remainingMs = this.remainingMs(call);
      const target = this.target(shard, call.unreachable);
      try {
        return await send(this.clients.forAddress(target.address).cache, { timeoutMs: remainingMs, signal: budget.signal });
      } catch (reason) {
        const retry = this.afterFailure(call, attempt, target, ConnectError.from(reason));
        this.options.onEvent({ type: "retry", shard, attempt: attempt + 1, reason: retry.reason, delayMs: retry.delayMs });
        if (retry.delayMs > 0) await this.options.sleep(retry.delayMs, budget.signal);
        if (retry.rediscover) await this.refresh(budget).catch(() => undefined);
      }
    }
  }

  /**
   * The time left for the call's next attempt. Nothing of that attempt was sent yet, so
   * stopping here is harmless, unless an earlier send of the write may have applied.
   */
  private remainingMs(call: CallState): number {
    const { budget, context, shard, lastError } = call;
    if (budget.signal?.aborted) {
      if (call.mayHaveApplied && lastError) throw this.canceled(context, lastError, true);
      throw new CanceledError(`${context.operation} was canceled`, { cause: lastError });
    }
    const remainingMs = budget.deadlineMs - this.options.clock.nowMs();
    if (remainingMs <= 0) {
      if (call.mayHaveApplied) throw toCacheError(lastError, context, true);
      throw new TimeoutError(`${context.operation} on shard ${shard} did not start within its deadline`, { cause: lastError });
    }
    return remainingMs;
  }

  /** What follows a failed attempt: the error to throw (thrown here), or how to retry. */
  private afterFailure(call: CallState, attempt: number, target: Target, err: ConnectError): Retry {
    const { context, budget } = call;
    call.lastError = err;
    if (budget.signal?.aborted) throw this.canceled(context, err, call.write);
    const verdict = classifyFailure(err, call.write);
    const sentBefore = call.sent;
    if (!neverReachedNode(err)) call.sent = true;
    // After a send that may have applied, only an answer that comes from applying the
    // write (or from the session table repeating that outcome) is final as it is.
    if (verdict.type === "fail") throw toCacheError(err, context, call.mayHaveApplied && !isApplyOutcome(err));
    if (verdict.type === "indeterminate") return this.afterIndeterminate(call, target, err);
    if (verdict.type === "sessionExpired") return this.afterSessionExpired(call, attempt, sentBefore, verdict.startedAfterMs, err);
    if (verdict.type === "backoff") {
      // Not applied: wait, then resend the same sequence; report the refusal itself if out of attempts or time.
      const delayMs = this.backoff(call);
      if (attempt >= this.options.attemptsMax || this.options.clock.nowMs() + delayMs >= budget.deadlineMs)
        throw toCacheError(err, context, call.mayHaveApplied);
      return { reason: verdict.reason, delayMs, rediscover: false };
    }
    if (verdict.reason === "unreachable") call.unreachable.add(target.address);
    // Follow a newly named leader at once, but back off if nodes keep naming each other.
    const immediate = this.learn(call.shard, target, verdict) && call.immediateRedirects < IMMEDIATE_REDIRECTS_MAX;
    if (immediate) call.immediateRedirects++;
    const delayMs = immediate ? 0 : this.backoff(call);
    if (call.mayHaveApplied && this.options.clock.nowMs() + delayMs >= budget.deadlineMs) throw toCacheError(err, context, true);
    if (attempt >= this.options.attemptsMax && !call.mayHaveApplied) throw this.exhausted(context, call.shard, attempt, err);
    if (this.options.clock.nowMs() + delayMs >= budget.deadlineMs) throw this.outOfTime(context, call.shard, err);
    return { reason: verdict.reason, delayMs, rediscover: verdict.type === "rediscover" };
  }

  /** A write that may have applied is retried under its session, which answers a repeat with the first outcome. */
  private afterIndeterminate(call: CallState, target: Target, err: ConnectError): Retry {
    if (call.session === undefined) throw toCacheError(err, call.context, true);
    call.mayHaveApplied = true;
    // No answer at all: the node may be gone, so the next attempt asks another node,
    // which names the leader.
    if (!answeredByServer(err)) {
      if (target.leaderId !== undefined) this.table.forgetLeader(call.shard, target.leaderId);
      call.unreachable.add(target.address);
    }
    const delayMs = this.backoff(call);
    if (this.options.clock.nowMs() + delayMs >= call.budget.deadlineMs) throw toCacheError(err, call.context, true);
    return { reason: "indeterminate", delayMs, rediscover: false };
  }

  /** The first send, refused and not applied, is resent at once under the new session; a later one fails. */
  private afterSessionExpired(call: CallState, attempt: number, sentBefore: boolean, startedAfterMs: bigint, err: ConnectError): Retry {
    const { session, context } = call;
    const sentUnder = session?.sessionId ?? "";
    const resend = !sentBefore && attempt < this.options.attemptsMax;
    session?.renew(call.shard, resend, startedAfterMs);
    if (session === undefined || sentBefore) throw sessionExpiredError(err, context, sentUnder);
    if (!resend) throw this.exhausted(context, call.shard, attempt, err);
    return { reason: "sessionExpired", delayMs: 0, rediscover: false };
  }

  private backoff(call: CallState): number {
    return backoffDelayMs(++call.backoffs, this.options.backoffMsMin, this.options.backoffMsMax, this.options.random);
  }

  /**
   * One attempt of a read at the shard's leader, without retries: batches try this
   * first for several shards with the same leader. Resolves undefined after a failure
   * worth retrying shard by shard (having learned from any NotLeader detail), and
   * rejects with the mapped error after a final one.
   */
  async tryReadOnce<R>(shard: number, context: FailureContext, send: Send<R>, budget: CallBudget): Promise<{ value: R } | undefined> {
    const target = this.target(shard, new Set());
    const remainingMs = budget.deadlineMs - this.options.clock.nowMs();
    if (remainingMs <= 0 || budget.signal?.aborted) return undefined;
    try {
      return { value: await send(this.clients.forAddress(target.address).cache, { timeoutMs: remainingMs, signal: budget.signal }) };
    } catch (reason) {
      const err = ConnectError.from(reason);
      const verdict = classifyFailure(err, false);
      if (verdict.type === "fail") throw toCacheError(err, context);
      if (verdict.type === "redirect") this.table.setLeader(verdict.shard, verdict.leaderId, verdict.leaderAddress || undefined);
      return undefined;
    }
  }

  /** The shard's believed leader id, for grouping a batch by leader. */
  leaderIdOf(shard: number): string | undefined {
    return this.table.leaderOf(shard)?.id;
  }

  /**
   * Updates the routing table from a retryable failure. Returns true when the next
   * attempt goes to a different, newly named leader and so need not wait.
   */
  private learn(shard: number, target: Target, verdict: Extract<Verdict, { type: "redirect" | "rediscover" }>): boolean {
    if (verdict.type === "rediscover") {
      if (target.leaderId !== undefined && verdict.reason !== "readFailed") this.table.forgetLeader(shard, target.leaderId);
      return false;
    }
    const moved = verdict.leaderId !== target.leaderId && verdict.leaderAddress !== target.address;
    this.table.setLeader(verdict.shard, verdict.leaderId, verdict.leaderAddress || undefined);
    // A node that knows a newer placement: the nodes and leaders may have moved, so the
    // topology is fetched again (in the background; this call follows the named leader).
    if (verdict.epoch > this.table.epoch)
      void this.refresh({ deadlineMs: this.options.clock.nowMs() + TOPOLOGY_ATTEMPT_MS_MAX * 3, signal: undefined }).catch(() => undefined);
    return moved && verdict.shard === shard;
  }

  private exhausted(context: FailureContext, shard: number, attempts: number, err: ConnectError): CacheError {
    return new UnavailableError(`${context.operation} on shard ${shard} failed after ${attempts} attempts: ${err.rawMessage}`, { cause: err });
  }

  /** The deadline would pass before the next attempt; every failure so far was harmless. */
  private outOfTime(context: FailureContext, shard: number, err: ConnectError): CacheError {
    return new TimeoutError(`${context.operation} on shard ${shard} did not complete within its deadline: ${err.rawMessage}`, { cause: err });
  }

  private canceled(context: FailureContext, err: ConnectError, write: boolean): CacheError {
    // The caller aborted after a send (in flight, or waiting to resend): a write may have applied.
    if (write)
      return new IndeterminateWriteError(`${context.operation} was canceled after a send and may or may not have taken effect`, err.code, { cause: err });
    return new CanceledError(`${context.operation} was canceled`, { cause: err });
  }
}

/** Codes of answers that come from applying a write: the shard's session table repeats them for a resend. */
const APPLY_OUTCOME_CODES: ReadonlySet<Code> = new Set([Code.AlreadyExists, Code.FailedPrecondition, Code.OutOfRange]);

function isApplyOutcome(err: ConnectError): boolean {
  return APPLY_OUTCOME_CODES.has(err.code) && answeredByServer(err);
}

/** Settles as `work` does, or rejects once the budget's deadline passes or its signal aborts, whichever is first. */
function withinBudget<T>(work: Promise<T>, budget: CallBudget, nowMs: number): Promise<T> {
  const remainingMs = budget.deadlineMs - nowMs;
  if (budget.signal === undefined && remainingMs > 2 ** 31 - 1) return work;
  return new Promise<T>((resolve, reject) => {
    const cleanUp = () => {
      clearTimeout(timer);
      budget.signal?.removeEventListener("abort", onAbort);
    };
    const stop = (reason: ConnectError) => {
      cleanUp();
      reject(reason);
    };
    const onAbort = () => stop(new ConnectError("canceled while the topology was refreshed", Code.Canceled));
    const timer = setTimeout(
      () => stop(new ConnectError("the deadline passed while the topology was refreshed", Code.DeadlineExceeded)),
      Math.max(0, remainingMs),
    );
    (timer as { unref?: () => void }).unref?.();
    budget.signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        cleanUp();
        resolve(value);
      },
      (err: unknown) => {
        cleanUp();
        reject(err);
      },
    );
  });
}
