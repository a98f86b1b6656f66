import { Code, ConnectError } from "@connectrpc/connect";
import { CompactedSchema, EventType, type WatchEvent as WireEvent, type WatchResponse } from "@distcache/proto";
import type { ResolvedOptions } from "./client-options.js";
import { toCacheError } from "./error-mapping.js";
import { CanceledError, WatchCompactedError } from "./errors.js";
import type { NodeClients } from "./node-clients.js";
import { backoffDelayMs } from "./retry-policy.js";
import type { RoutingTable } from "./routing-table.js";
import { WATCH_SILENCE_MS_MAX } from "./topology-watch.js";

/** A place in one shard's change stream: an entry's log index and an event's ordinal within it. */
export interface WatchPosition {
  shard: number;
  index: bigint;
  ordinal: number;
}

export type WatchEventType = "put" | "delete" | "expire" | "evict";

/** One committed change. */
export interface WatchEvent {
  type: WatchEventType;
  key: string;
  /** The key's version after a put; 0 otherwise. */
  version: bigint;
  /** The value of a put, when the watch asked for values (a text value's UTF-8 bytes). */
  value?: Uint8Array;
  /** The value of a put written as text, when the watch asked for values. */
  text?: string;
  /** Where the event is in its shard's stream. */
  position: WatchPosition;
  /** The resume token just after this event: a watch started from it receives exactly the events after this one. */
  resume: WatchPosition[];
}

export interface WatchOptions {
  /** Watch every key that starts with the given string (an empty prefix watches every key). */
  prefix?: boolean;
  /** Where to start: a resume token, or the position a get() returned. Without it, the watch starts now. */
  from?: readonly WatchPosition[] | WatchPosition;
  /** Also deliver each put's value. */
  withValues?: boolean;
  /** Ends the watch when aborted. */
  signal?: AbortSignal;
}

/** A running watch: iterate it for events; it reconnects and resumes by itself. */
export interface CacheWatch extends AsyncIterable<WatchEvent> {
  /** The positions delivered so far, every shard the watch covers: start a later watch from it to continue exactly here. */
  readonly resumeToken: WatchPosition[];
  /** Ends the watch; a pending iteration finishes. */
  close(): void;
}

/** How a stream ended: whether it delivered anything, and why. */
interface StreamEnd {
  delivered: boolean;
  reason: string;
}

/** The least wait between two streams of one watch. */
const WATCH_BACKOFF_MS_MIN = 50;

const TYPES: Record<number, WatchEventType> = {
  [EventType.PUT]: "put",
  [EventType.DELETE]: "delete",
  [EventType.EXPIRE]: "expire",
  [EventType.EVICT]: "evict",
};

/**
 * A watch over the cluster's nodes: one stream at a time. A stream that fails, ends, stays
 * silent or drops this consumer for reading too slowly is opened again on the next known
 * node with the positions delivered so far, so no event is lost or repeated. Errors that
 * every node would give (invalid argument, a bound on watchers reached at the first
 * connect) end the iteration, and so does a compacted start once every known node has
 * answered it so (replicas' histories start at different points).
 */
export class WatchStream implements CacheWatch {
  private readonly cursors = new Map<number, WatchPosition>();
  private readonly stop = new AbortController();
  private nextNode = 0;
  /** Nodes that found the current token older than their history; each is asked once before the watch gives up. */
  private readonly compactedAt = new Set<string>();

  constructor(
    private readonly key: string,
    private readonly options: WatchOptions,
    private readonly resolved: ResolvedOptions,
    private readonly table: RoutingTable,
    private readonly clients: NodeClients,
    /** Fetches the topology when the table has none yet. */
    private readonly ensureTopology: (signal: AbortSignal) => Promise<void>,
    /** Called once the watch ends (closed, aborted, or failed). */
    onClose: (watch: WatchStream) => void = () => undefined,
  ) {
    const from = options.from === undefined ? [] : Array.isArray(options.from) ? options.from : [options.from as WatchPosition];
    for (const p of from) this.cursors.set(p.shard, { shard: p.shard, index: BigInt(p.index), ordinal: p.ordinal });
    const outer = options.signal;
    const onAbort = () => this.stop.abort();
    this.stop.signal.addEventListener("abort", () => {
      outer?.removeEventListener("abort", onAbort);
      onClose(this);
    });
    outer?.addEventListener("abort", onAbort, { once: true });
    if (outer?.aborted) this.stop.abort();
  }

  /** Whether the watch has ended. */
  get closed(): boolean {
    return this.stop.signal.aborted;
  }

  get resumeToken(): WatchPosition[] {
    return [...this.cursors.values()].map((p) => ({ ...p }));
  }

  close(): void {
    this.stop.abort();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent> {
    let failures = 0;
    let everConnected = false;
    try {
      while (!this.stop.signal.aborted) {
        const ready = await this.ensureTopology(this.stop.signal).then(
          () => "",
          (err: unknown) => `no topology: ${err instanceof Error ? err.message : String(err)}`,
        );
        const outcome = ready === "" ? yield* this.streamOnce(everConnected) : { delivered: false, reason: ready };
        if (outcome.delivered) everConnected = true;
        if (this.stop.signal.aborted) return;
        failures = outcome.delivered ? 1 : failures + 1;
        // At least WATCH_BACKOFF_MS_MIN between streams, whatever the options say: a node that fails at once is not hammered.
        const delayMs = Math.max(WATCH_BACKOFF_MS_MIN, backoffDelayMs(failures, this.resolved.backoffMsMin, this.resolved.backoffMsMax, this.resolved.random));
        this.resolved.onEvent({ type: "watchReconnect", key: this.key, reason: outcome.reason, delayMs });
        await this.resolved.sleep(delayMs, this.stop.signal).catch(() => undefined);
      }
    } finally {
      this.stop.abort();
    }
  }

  /** One stream, until it fails, ends or stays silent: whether it delivered a message, and why it ended. Throws what ends the watch. */
  private async *streamOnce(everConnected: boolean): AsyncGenerator<WatchEvent, StreamEnd> {
    const nodes = this.table.nodeAddresses();
    if (nodes.length === 0) return { delivered: false, reason: "no node known" };
    const address = nodes[this.nextNode++ % nodes.length]!;
    const stream = new AbortController();
    const cut = () => stream.abort();
    this.stop.signal.addEventListener("abort", cut, { once: true });
    let silence = setTimeout(cut, WATCH_SILENCE_MS_MAX);
    let delivered = false;
    let reason = "ended";
    try {
      const client = this.clients.forAddress(address);
      const request = { key: this.key, prefix: this.options.prefix ?? false, withValues: this.options.withValues ?? false, start: this.resumeToken };
      for await (const message of client.cache.watch(request, { signal: stream.signal })) {
        clearTimeout(silence);
        silence = setTimeout(cut, WATCH_SILENCE_MS_MAX);
        delivered = true;
        this.compactedAt.clear();
        yield* this.deliver(message);
      }
    } catch (err) {
      if (this.stop.signal.aborted) return { delivered, reason: "closed" };
      reason = stream.signal.aborted ? `silent for ${WATCH_SILENCE_MS_MAX} ms` : ConnectError.from(err).message;
      // The SDK's own cut of a silent stream is no answer of the node's: the next node may serve.
      const fatal = stream.signal.aborted ? undefined : fatalError(err, everConnected || delivered);
      // Replicas' histories start at different points (a restart, a snapshot): ask every node before giving up.
      if (fatal instanceof WatchCompactedError) {
        this.compactedAt.add(address);
        if (nodes.some((n) => !this.compactedAt.has(n))) return { delivered, reason };
      }
      if (fatal) throw fatal;
    } finally {
      clearTimeout(silence);
      this.stop.signal.removeEventListener("abort", cut);
    }
    return { delivered, reason };
  }

  private *deliver(message: WatchResponse): Generator<WatchEvent> {
    for (const wire of message.events) {
      // close() while the caller handles an event: nothing more is delivered.
      if (this.stop.signal.aborted) return;
      const position = { shard: wire.shard, index: wire.index, ordinal: wire.ordinal };
      this.cursors.set(wire.shard, position);
      yield toEvent(wire, position, this.resumeToken);
    }
    for (const p of message.resume) this.cursors.set(p.shard, { shard: p.shard, index: p.index, ordinal: p.ordinal });
  }
}

function toEvent(wire: WireEvent, position: WatchPosition, resume: WatchPosition[]): WatchEvent {
  const event: WatchEvent = { type: TYPES[wire.type] ?? "put", key: wire.key, version: wire.version, position, resume };
  if (wire.payload.case === "text") {
    event.text = wire.payload.value;
    event.value = new TextEncoder().encode(wire.payload.value);
  } else if (wire.payload.case === "value") {
    event.value = wire.payload.value;
  }
  return event;
}

/** The error that ends a watch, or undefined when the next node may serve it. */
function fatalError(reason: unknown, connectedBefore: boolean): Error | undefined {
  const err = ConnectError.from(reason);
  switch (err.code) {
    case Code.OutOfRange: {
      const [detail] = err.findDetails(CompactedSchema);
      return new WatchCompactedError(detail?.shard ?? 0, { index: detail?.oldestIndex ?? 0n, ordinal: detail?.oldestOrdinal ?? 0 }, err.rawMessage, {
        cause: err,
      });
    }
    case Code.InvalidArgument:
    case Code.Unimplemented:
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return toCacheError(err, { operation: "watch" });
    case Code.ResourceExhausted:
      // A bound on watchers at the first connect ends the watch; a drop for reading slowly reconnects.
      return connectedBefore ? undefined : toCacheError(err, { operation: "watch" });
    case Code.Canceled:
      return connectedBefore ? undefined : new CanceledError(err.rawMessage, { cause: err });
    default:
      return undefined;
  }
}
