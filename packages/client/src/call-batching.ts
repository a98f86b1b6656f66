import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import type { BatchCall, BatchResult, CacheService, CallError } from "@distcache/proto";

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
   * Requests (batches or lone calls) in flight to the node at once. Calls made while
   * that many are out wait for the first to be answered, then leave together: under load
   * the batches grow to what the node is answering, and an idle client adds no wait.
   */
  inFlightMax: number;
}

/** Defaults: well under a node's default request limits (1,000 calls, 4 MiB). */
export const CALL_BATCHING_DEFAULTS: CallBatchingOptions = { callsMax: 256, bytesMax: 1024 * 1024, inFlightMax: 2 };

interface Pending {
  batched: BatchCall["call"];
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
  private batchUnsupported = false;
  private inFlight = 0;

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
      if (idle || this.batchUnsupported || bytes > this.options.bytesMax / 4) return this.sendAlone(pending);
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

  private flush(): void {
    this.scheduled = false;
    const { inFlightMax, callsMax, bytesMax } = this.options;
    // Every slot taken: the calls wait for an answer (slotFreed flushes them).
    if (this.inFlight >= inFlightMax && this.queue.length < callsMax && this.queuedBytes < bytesMax) return;
    const calls = this.queue.filter((p) => !p.done());
    this.queue = [];
    this.queuedBytes = 0;
    if (calls.length === 1 || this.batchUnsupported) calls.forEach((p) => this.sendAlone(p));
    else if (calls.length > 1) this.sendBatch(calls);
  }

  private sendAlone(pending: Pending): void {
    pending.sent = true;
    const callOptions: CallOptions = { timeoutMs: pending.remainingMs(), signal: pending.signal };
    const { case: kind, value } = pending.batched;
    const sent =
      kind === undefined
        ? Promise.reject(new ConnectError("empty call", Code.Internal))
        : (this.inner[kind] as (r: unknown, o: CallOptions) => Promise<unknown>)(value, callOptions);
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
    const request = { calls: calls.map((p, i) => ({ call: p.batched, timeoutMs: timeouts[i] ?? 0 })) };
    this.inFlight++;
    this.inner
      .batch(request, { timeoutMs: batchTimeoutMs })
      .then(
        (response) => settleAll(calls, response.results),
        (err: unknown) => {
          const refusal = ConnectError.from(err);
          // Refused as a whole (or not served): nothing of it ran, so each call goes alone.
          if (refusedWhole(refusal)) {
            if (refusal.code === Code.Unimplemented) this.batchUnsupported = true;
            calls.forEach((p) => this.sendAlone(p));
            return;
          }
          for (const p of calls) p.settle({ error: refusal });
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
    batched: { case: kind, value: request } as BatchCall["call"],
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
    if (result === undefined || result.case === undefined)
      pending.settle({ error: answered(new ConnectError(`the node answered ${results.length} results for ${calls.length} calls`, Code.Internal)) });
    else if (result.case === "error") pending.settle({ error: errorOf(result.value) });
    else pending.settle({ value: result.value });
  });
}

/**
 * A batch the node refused before running any call: a path it does not serve (an HTTP
 * 404, unimplemented, with or without a Connect body), or a batch too large or malformed
 * as a whole.
 */
function refusedWhole(err: ConnectError): boolean {
  if (err.code === Code.Unimplemented) return true;
  return err.metadata.has("content-type") && (err.code === Code.ResourceExhausted || err.code === Code.InvalidArgument);
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
