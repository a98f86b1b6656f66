import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { requestScope, type RequestScope } from "../http/connection-scope.js";
import { StreamPlaces } from "./stream-places.js";
import { StreamQueue } from "./stream-queue.js";

/** What a stream needs of its call: the caller's signal, and the context values that carry its HTTP request. */
export type StreamCall = Pick<HandlerContext, "signal" | "values">;

/** The limits every server stream of a node shares. */
export interface StreamLimits {
  /** Streams open at once on this node (--streams-max). */
  perNodeMax: number;
  /** Streams open at once on one client connection (--connection-streams-max). */
  perConnectionMax: number;
  /** A progress message goes out at this interval (--stream-progress-ms). */
  progressMs: number;
  /** Messages held for a consumer that reads too slowly before its stream is dropped (--stream-queue-max). */
  queueMax: number;
  /** Bytes of messages (as the source sizes them) held for a slow consumer before its stream is dropped (--stream-queue-bytes). */
  queueBytesMax?: number;
}

/** How long a dropped stream's consumer has to read its error before the stream is cut. */
const DROP_GRACE_MS = 1000;

/** What one stream sends: its first messages, the later ones as they come, and its progress message. */
export interface StreamSource<T> {
  /** Sent at once. */
  first(): T[];
  /**
   * Starts handing later messages to `push` (or ending the stream with `fail`); returns the
   * function that stops it. A source that paces itself pushes while `room()` holds, and
   * goes on when `resume` is called.
   */
  subscribe(push: (message: T) => void, fail: (error: ConnectError) => void, room: () => boolean): () => void;
  /** Called when the queue has room again after the consumer read a message. */
  resume?(): void;
  /** Sent at every progress interval. */
  progress(): T;
  /** A message's size, for the queue's byte bound (none: only messages are counted). */
  size?(message: T): number;
  /** Called once the stream ends, however it ends. */
  close?(): void;
}

export type StreamOutcome = "opened" | "refused" | "dropped" | "ended";

/**
 * Serves the node's server streams within shared limits: a bound per node and per
 * client connection (over either, the call is answered resource_exhausted before it
 * streams), a progress message at a fixed interval, and a bounded queue per stream: a
 * consumer that falls queueMax messages behind is dropped with resource_exhausted, never
 * waited for. When the node stops, every stream ends with unavailable, so clients
 * reconnect elsewhere.
 */
export class StreamGate {
  private readonly places: StreamPlaces;
  private readonly closers = new Set<() => void>();
  private closed = false;

  constructor(
    readonly limits: StreamLimits,
    private readonly onOutcome: (outcome: StreamOutcome) => void = () => undefined,
  ) {
    this.places = new StreamPlaces({
      what: "streams",
      perNodeMax: limits.perNodeMax,
      perConnectionMax: limits.perConnectionMax,
      nodeFlag: "--streams-max",
      connectionFlag: "--connection-streams-max",
    });
  }

  /** Streams open now. */
  get size(): number {
    return this.places.size;
  }

  /**
   * Serves `source` until the caller goes away (`signal`), the consumer falls behind, the
   * source fails it, or the node stops. A refusal (a bound reached, of every stream or of
   * `kind`, the places of one kind of stream) is the stream's first result, so a stream
   * holds a place only while it runs. A source given as a function is prepared once the
   * places are taken (it may wait, or refuse by throwing). The call's context gives the
   * caller's signal and the HTTP request the stream came on, which per-connection bounds
   * and the cut of a stalled consumer need; a call without one is counted for the node only.
   */
  async *serve<T>(source: StreamSource<T> | (() => Promise<StreamSource<T>>), call: StreamCall, kind?: StreamPlaces): AsyncGenerator<T> {
    const { signal } = call;
    const request = requestScope(call.values);
    const release = this.acquire(request?.connection, kind);
    let ready: StreamSource<T>;
    try {
      ready = typeof source === "function" ? await source() : source;
    } catch (err) {
      release();
      this.onOutcome("ended");
      throw err;
    }
    try {
      yield* this.run(ready, signal, release, request);
    } finally {
      ready.close?.();
    }
  }

  /** Ends every stream with unavailable and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const close of [...this.closers]) close();
  }

  private acquire(connection: object | undefined, kind: StreamPlaces | undefined): () => void {
    if (this.closed) throw new ConnectError("the node is shutting down; open the stream on another node", Code.Unavailable);
    let releaseKind: (() => void) | undefined;
    try {
      releaseKind = kind?.acquire(connection);
      const release = this.places.acquire(connection);
      this.onOutcome("opened");
      return () => {
        release();
        releaseKind?.();
      };
    } catch (err) {
      releaseKind?.();
      this.onOutcome("refused");
      throw err;
    }
  }

  private async *run<T>(source: StreamSource<T>, signal: AbortSignal, release: () => void, request: RequestScope | undefined): AsyncGenerator<T> {
    const queue = new StreamQueue<T>(this.limits.queueMax, this.queueBytesMax, source.size?.bind(source));
    try {
      for (const message of source.first()) queue.force(message);
    } catch (err) {
      release();
      this.onOutcome("ended");
      throw err;
    }
    const state: { failure?: ConnectError; wake?: () => void; cutTimer?: NodeJS.Timeout } = {};
    const notify = () => {
      const wake = state.wake;
      state.wake = undefined;
      wake?.();
    };
    const end = (error: ConnectError, dropped: boolean) => {
      if (state.failure) return;
      state.failure = error;
      if (dropped) {
        queue.clear();
        this.onOutcome("dropped");
      }
      // A consumer that stopped reading never takes the error: its stream is cut.
      state.cutTimer = setTimeout(() => request?.cut(), DROP_GRACE_MS).unref();
      notify();
    };
    const push = (message: T) => {
      if (state.failure) return;
      const passed = queue.offer(message);
      if (passed) end(this.droppedError(passed), true);
      else notify();
    };
    const close = () => end(new ConnectError("the node is shutting down; reopen the stream on another node", Code.Unavailable), false);
    const unsubscribe = source.subscribe(
      push,
      (error) => end(error, false),
      () => queue.hasRoom(),
    );
    const progress = setInterval(() => push(source.progress()), this.limits.progressMs);
    this.closers.add(close);
    signal.addEventListener("abort", notify, { once: true });
    try {
      for (;;) {
        if (signal.aborted) return;
        if (state.failure) throw state.failure;
        const next = queue.take();
        if (next !== undefined) {
          yield next;
          if (source.resume && queue.hasRoom()) source.resume();
          continue;
        }
        await new Promise<void>((resolve) => (state.wake = resolve));
      }
    } finally {
      clearInterval(progress);
      clearTimeout(state.cutTimer);
      unsubscribe();
      this.closers.delete(close);
      signal.removeEventListener("abort", notify);
      release();
      this.onOutcome("ended");
    }
  }

  private get queueBytesMax(): number {
    return this.limits.queueBytesMax ?? Number.MAX_SAFE_INTEGER;
  }

  private droppedError(passed: "messages" | "bytes"): ConnectError {
    const behind =
      passed === "messages" ? `${this.limits.queueMax} messages behind (--stream-queue-max)` : `${this.queueBytesMax} bytes behind (--stream-queue-bytes)`;
    return new ConnectError(`the stream's consumer fell ${behind} and was dropped; reconnect`, Code.ResourceExhausted);
  }
}
