import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import type { BatchCall, BatchResult, CacheService, CallError } from "@distcache/proto";
import { answeredByServer, classifyFailure, isOverloaded } from "./retry-policy.js";

/** The single-key calls a batching client coalesces. */
type Single = "get" | "set" | "delete" | "incr";
type Request<M extends Single> = Parameters<Client<typeof CacheService>[M]>[0];
type Response<M extends Single> = Awaited<ReturnType<Client<typeof CacheService>[M]>>;

export interface CallBatchingOptions {
  /** Most calls in one Batch; a call that fills it sends it at once. */
  callsMax: number;
  /** Most value and key bytes in one Batch; a larger call goes alone. */
  bytesMax: number;
  /**
   * Requests (batches or lone calls) in flight to the node at once before new calls
   * wait: they leave together when one is answered, or after lingerMs, whichever is
   * first. Under load the batches grow to what the node is answering; an idle client adds
   * no wait, and a slow request holds the calls behind it back by lingerMs at most.
   */
  inFlightMax: number;
  /** Longest a call waits for a free slot before it leaves anyway. */
  lingerMs: number;
  /** After a node answered that it does not serve Batch, how long before it is asked again. */
  unsupportedRetryMs: number;
}

/** Defaults: well under a node's default request limits (1,000 calls, 4 MiB). */
export const CALL_BATCHING_DEFAULTS: CallBatchingOptions = { callsMax: 256, bytesMax: 1024 * 1024, inFlightMax: 2, lingerMs: 1, unsupportedRetryMs: 60_000 };

interface Pending {
  kind: Single;
  request: unknown;
  signal: AbortSignal | undefined;
  /** Whether it has left (alone or in a batch); its deadline then fails it as the transport would. */
  sent: boolean;
  /** Whether it has its outcome (an answer, its deadline, or its abort). */
  readonly done: () => boolean;
  /** Milliseconds left before its deadline, now; undefined without one. */
  readonly remainingMs: () => number | undefined;
  settle: (outcome: { value: unknown } | { error: ConnectError }) => void;
}

/** Runs `work` on the next turn of the event loop, after the I/O callbacks of this one. */
const nextTurn: (work: () => void) => void =
  typeof globalThis.setImmediate === "function" ? (work) => void globalThis.setImmediate(work) : (work) => void setTimeout(work, 0);

/**
 * A CacheService client for one node whose Get, Set, Delete and Incr calls coalesce:
 * every such call made before the event loop's next turn goes out with the others as one
 * Batch, and each caller gets its own call's answer, as if it had sent it alone (the node
 * runs each call with its own header and deadline). A call made while nothing else is in
 * flight or waiting leaves at once, as itself, so nothing is added at low concurrency. A
 * node that does not serve Batch, or refuses a batch as a whole, gets the calls one by
 * one (a refused batch ran none of them).
 */
export function batchingClient(inner: Client<typeof CacheService>, options: CallBatchingOptions = CALL_BATCHING_DEFAULTS): Client<typeof CacheService> {
  const batcher = new CallBatcher(inner, options);
  return {
    ...inner,
    get: (request, o) => batcher.enqueue("get", request, o),
    set: (request, o) => batcher.enqueue("set", request, o),
    delete: (request, o) => batcher.enqueue("delete", request, o),
    incr: (request, o) => batcher.enqueue("incr", request, o),
  };
}

/** The calls waiting for one node, and its requests in flight. */
class CallBatcher {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  /** Until when (performance.now()) this node is taken not to serve Batch. */
  private unsupportedUntilMs = Number.NEGATIVE_INFINITY;
  private inFlight = 0;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly inner: Client<typeof CacheService>,
    private readonly options: CallBatchingOptions,
  ) {}

  enqueue<M extends Single>(kind: M, request: Request<M>, callOptions: CallOptions | undefined): Promise<Response<M>> {
    return new Promise<Response<M>>((resolve, reject) => {
      const signal = callOptions?.signal ?? undefined;
      if (signal?.aborted) return reject(new ConnectError("the call was canceled", Code.Canceled));
      const pending = settleOnce(kind, request, callOptions?.timeoutMs, signal, resolve as (v: unknown) => void, reject);
      const bytes = sizeOf(kind, request);
      // Alone when nothing is in flight or waiting (no wait at low concurrency), when the
      // node does not batch, or when the call is large.
      const idle = this.inFlight === 0 && this.queue.length === 0;
      if (idle || this.batchUnsupported() || bytes > this.options.bytesMax / 4) return this.sendAlone(pending);
      if (this.queuedBytes + bytes > this.options.bytesMax) this.flush();
      this.queue.push(pending);
      this.queuedBytes += bytes;
      if (this.queue.length >= this.options.callsMax) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        nextTurn(() => this.flush());
      }
    });
  }

  /** A request was answered: the calls that waited for a free slot leave now. */
  private readonly slotFreed = (): void => {
    this.inFlight--;
    if (this.queue.length > 0 && !this.scheduled) this.flush();
  };

  private batchUnsupported(): boolean {
    return performance.now() < this.unsupportedUntilMs;
  }

  /** Sends what is queued, unless every slot is taken (then slotFreed, or the linger timer, sends it). */
  private flush(force = false): void {
    this.scheduled = false;
    const { inFlightMax, callsMax, bytesMax } = this.options;
    if (!force && this.inFlight >= inFlightMax && this.queue.length < callsMax && this.queuedBytes < bytesMax) {
      this.lingerTimer ??= setTimeout(() => {
        this.lingerTimer = undefined;
        this.flush(true);
      }, this.options.lingerMs);
      return;
    }
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const calls = this.queue.filter((p) => !p.done());
    this.queue = [];
    this.queuedBytes = 0;
    if (calls.length === 1 || this.batchUnsupported()) calls.forEach((p) => this.sendAlone(p));
    else if (calls.length > 1) this.sendBatch(calls);
  }

  private sendAlone(pending: Pending): void {
    pending.sent = true;
    const callOptions: CallOptions = { timeoutMs: pending.remainingMs(), signal: pending.signal };
    const sent = (this.inner[pending.kind] as (r: unknown, o: CallOptions) => Promise<unknown>)(pending.request, callOptions);
    this.inFlight++;
    sent
      .then(
        (result) => pending.settle({ value: result }),
        (err: unknown) => pending.settle({ error: ConnectError.from(err) }),
      )
      .finally(this.slotFreed);
  }

  private sendBatch(calls: Pending[]): void {
    const timeouts = calls.map((p) => {
      p.sent = true;
      return p.remainingMs();
    });
    const batchTimeoutMs = timeouts.includes(undefined) ? undefined : Math.max(...(timeouts as number[]));
    const request = { calls: calls.map((p, i) => ({ call: { case: p.kind, value: p.request } as BatchCall["call"], timeoutMs: timeouts[i] ?? 0 })) };
    this.inFlight++;
    this.inner
      .batch(request, { timeoutMs: batchTimeoutMs })
      .then(
        (response) => settleAll(calls, response.results),
        (err: unknown) => {
          const refusal = ConnectError.from(err);
          // Refused as a whole (or not served): nothing of it ran, so each call still
          // waiting goes alone.
          if (refusedWhole(refusal)) {
            if (refusal.code === Code.Unimplemented) this.unsupportedUntilMs = performance.now() + this.options.unsupportedRetryMs;
            calls.filter((p) => !p.done()).forEach((p) => this.sendAlone(p));
            return;
          }
          const failure = batchFailure(refusal);
          for (const p of calls) p.settle({ error: failure });
        },
      )
      .finally(this.slotFreed);
  }
}

/**
 * A call that settles once: with its answer, or at its own deadline or abort, whichever
 * comes first (a batch's later answer for it is then dropped). A deadline that passes
 * before the call left fails it as unavailable, "not sent": the router knows it did not
 * apply.
 */
function settleOnce(
  kind: Single,
  request: unknown,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
  resolve: (value: unknown) => void,
  reject: (err: ConnectError) => void,
): Pending {
  let done = false;
  const startedMs = performance.now();
  const onAbort = (): void => finish({ error: new ConnectError("the call was canceled", Code.Canceled) });
  const onDeadline = (): void =>
    finish({
      error: pending.sent
        ? new ConnectError("the operation timed out", Code.DeadlineExceeded)
        : new ConnectError("the call's deadline passed while it waited to be sent; it was not sent, retry", Code.Unavailable),
    });
  const timer = timeoutMs === undefined ? undefined : setTimeout(onDeadline, timeoutMs);
  const finish = (outcome: { value: unknown } | { error: ConnectError }): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    if ("error" in outcome) reject(outcome.error);
    else resolve(outcome.value);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  const pending: Pending = {
    kind,
    request,
    signal,
    sent: false,
    done: () => done,
    // Whole milliseconds: it travels as connect-timeout-ms, an integer.
    remainingMs: () => (timeoutMs === undefined ? undefined : Math.max(1, Math.floor(timeoutMs - (performance.now() - startedMs)))),
    settle: finish,
  };
  return pending;
}

function settleAll(calls: Pending[], results: BatchResult[]): void {
  calls.forEach((pending, i) => {
    const result = results[i]?.result;
    // Not the node's answer for this call: its fate is unknown, as after a broken connection.
    if (result === undefined || result.case === undefined)
      pending.settle({ error: new ConnectError(`the node answered ${results.length} results for ${calls.length} calls`, Code.Internal) });
    else if (result.case === "error") pending.settle({ error: errorOf(result.value) });
    else pending.settle({ value: result.value });
  });
}

/**
 * A batch the node refused before running any call: a path it does not serve (an HTTP
 * 404, unimplemented, with or without a Connect body), or a batch too large or malformed
 * as a whole. A node at a bound ("retry later") is not asked again call by call: each
 * call gets that refusal, and its router backs off.
 */
function refusedWhole(err: ConnectError): boolean {
  if (err.code === Code.Unimplemented) return true;
  if (!answeredByServer(err) || isOverloaded(err)) return false;
  return err.code === Code.ResourceExhausted || err.code === Code.InvalidArgument;
}

/**
 * What each call of a failed batch gets: the node's own answer, or a failure the retry
 * rules already take as leaving a write's fate open (a transport failure), as is; any
 * other failure that no node answered (an answer this client could not read, say) would
 * read as final, so it becomes one that leaves every call's fate unknown.
 */
function batchFailure(err: ConnectError): ConnectError {
  if (answeredByServer(err) || classifyFailure(err, true).type !== "fail") return err;
  return new ConnectError(
    `the batch's answer was not read (${err.rawMessage}); a write in it may or may not have taken effect`,
    Code.Unknown,
    undefined,
    undefined,
    err,
  );
}

/** The error a call would have got sent alone, marked as answered by the node. */
export function errorOf(callError: CallError): ConnectError {
  const err = new ConnectError(callError.message, codeFromString(callError.code) ?? Code.Unknown);
  for (const detail of callError.details) err.details.push({ type: detail.type, value: detail.value });
  return answered(err);
}

/** Marks an error as answered by a node, as a response's content-type marks a lone call's. */
function answered(err: ConnectError): ConnectError {
  err.metadata.set("content-type", "application/proto");
  return err;
}

/** The bytes a call adds to a batch: its key and value. */
function sizeOf(kind: Single, request: unknown): number {
  const r = request as { key?: string; payload?: { case?: string; value?: Uint8Array | string } };
  const key = r.key?.length ?? 0;
  if (kind !== "set") return key + 16;
  const value = r.payload?.value;
  return key + 32 + (typeof value === "string" ? value.length * 3 : (value?.byteLength ?? 0));
}
