import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CompactedSchema, EventType, type WatchResponse, type WatchResponseSchema } from "@distcache/proto";
import { ORDINAL_WHOLE, type ChangeEvent, type Position, type WatchHistory } from "../state-machine/watch-history.js";

export type WatchMessage = MessageInitShape<typeof WatchResponseSchema>;

/** What a watcher reads of a local replica. */
export interface WatchedReplica {
  readonly history: WatchHistory;
  readonly appliedIndex: number;
}

export interface WatchSpec {
  key: string;
  prefix: boolean;
  withValues: boolean;
}

/** Events per message at most; a message also ends once its values pass MESSAGE_VALUE_BYTES. */
const MESSAGE_EVENTS_MAX = 512;
const MESSAGE_VALUE_BYTES = 1024 * 1024;

const decoder = new TextDecoder();

const KINDS = { put: EventType.PUT, delete: EventType.DELETE, expire: EventType.EXPIRE, evict: EventType.EVICT } as const;

/** The out_of_range error of a watch whose start (or cursor) is older than the shard's retained history. */
export function compactedError(shard: number, floor: Position, why: string): ConnectError {
  return new ConnectError(
    `${why}: shard ${shard} retains changes after index ${floor.index} (ordinal ${floor.ordinal}) only; ` +
      "read the keys again and watch from the position of that read",
    Code.OutOfRange,
    undefined,
    [{ desc: CompactedSchema, value: create(CompactedSchema, { shard, oldestIndex: BigInt(floor.index), oldestOrdinal: floor.ordinal }) }],
  );
}

/**
 * One watch stream: a cursor per shard it covers (the position delivered). The shards of
 * `local` are read forward through this node's replicas' histories: every event after a
 * cursor is looked at once, and those that match the key or prefix go out in messages
 * that carry the resume token (every cursor). A cursor older than the history (the history
 * dropped events this watcher had not read yet, or a snapshot replaced the replica) fails
 * the stream: it never skips. The other shards' events come relayed from nodes that hold
 * them (`relayed`), and move their cursors the same way.
 */
export class Watcher {
  private failed = false;
  /** Local shards whose reading stopped for want of room in the stream's queue. */
  private readonly waiting = new Set<number>();
  /** Whether the stream's queue has room for more; reading stops while it has none. */
  room: () => boolean = () => true;
  /** Local shards served by their fan's shared scan: the cursor is the fan's, read when needed. */
  private readonly followed = new Map<number, () => Position>();

  constructor(
    private readonly spec: WatchSpec,
    /** The position delivered so far, for each shard the watch covers (a followed shard's is its fan's). */
    private readonly cursors: Map<number, Position>,
    /** The shards read from this node's replicas. */
    private readonly local: readonly number[],
    private readonly replicaOf: (shard: number) => WatchedReplica | undefined,
    private readonly push: (message: WatchMessage) => void,
    private readonly fail: (error: ConnectError) => void,
  ) {}

  /** The shards this watcher reads from this node's replicas. */
  get shards(): number[] {
    return [...this.local];
  }

  /** The key, or the prefix, this watcher matches. */
  get key(): string {
    return this.spec.key;
  }

  get isPrefix(): boolean {
    return this.spec.prefix;
  }

  /** Whether the stream ended. */
  get ended(): boolean {
    return this.failed;
  }

  /** The position delivered so far on `shard`. */
  cursorOf(shard: number): Position | undefined {
    return this.followed.get(shard)?.() ?? this.cursors.get(shard);
  }

  /** From now on the shard's cursor is `fanCursor()`: its fan's shared scan serves this watcher. */
  follow(shard: number, fanCursor: () => Position): void {
    this.followed.set(shard, fanCursor);
  }

  /** The shard's fan stops serving this watcher, whose cursor is `at`: it reads by itself again. */
  unfollow(shard: number, at: Position): void {
    this.followed.delete(shard);
    this.cursors.set(shard, at);
  }

  /**
   * Events of a followed shard that its fan's scan found for this watcher, all of them up
   * to the fan's cursor: pushes them. Refused (false) when the queue has no room or they
   * would not fit one message; the fan then stops serving this watcher, which reads them
   * itself (pull).
   */
  deliver(shard: number, events: readonly ChangeEvent[], wire: WireEvents): boolean {
    if (this.failed) return true;
    if (!this.room() || events.length > MESSAGE_EVENTS_MAX || (this.spec.withValues && valueBytes(events) > MESSAGE_VALUE_BYTES)) return false;
    this.push({ events: events.map((e) => wire.of(shard, e, this.spec.withValues)), resume: this.resume() });
    return true;
  }

  /**
   * A message relayed from another node's watch of some of the shards: its resume token
   * moves those shards' cursors, and its events go out with every cursor. Progress
   * messages only move the cursors (this stream sends its own).
   */
  relayed(message: WatchResponse): void {
    if (this.failed) return;
    for (const p of message.resume) {
      if (this.cursors.has(p.shard) && !this.local.includes(p.shard)) this.cursors.set(p.shard, { index: Number(p.index), ordinal: p.ordinal });
    }
    if (message.events.length > 0) this.push({ events: message.events, resume: this.resume() });
  }

  /** The history of a local shard's replica, while this node holds one. */
  historyOf(shard: number): WatchHistory | undefined {
    return this.replicaOf(shard)?.history;
  }

  /** Reads again the shards whose reading stopped for want of room (the stream's queue drained). */
  resumeWaiting(): void {
    for (const shard of [...this.waiting]) {
      this.waiting.delete(shard);
      this.pull(shard);
    }
  }

  /**
   * Reads shard's new events and pushes what matches, while the stream's queue has room;
   * without room it stops, and resumeWaiting() reads on. A watcher that stays behind
   * until the history drops its next events fails as compacted. True once it read up to
   * the end of what the shard applied.
   */
  pull(shard: number): boolean {
    if (this.failed) return false;
    // Its fan serves it: nothing of its own to read.
    if (this.followed.has(shard)) return true;
    const replica = this.replicaOf(shard);
    if (replica === undefined) {
      this.stop(new ConnectError(`this node no longer holds a replica of shard ${shard}; resume the watch on another node`, Code.Unavailable));
      return false;
    }
    const history = replica.history;
    let cursor = this.cursors.get(shard)!;
    for (;;) {
      if (!this.room()) {
        this.waiting.add(shard);
        return false;
      }
      const from = history.firstAfter(cursor);
      if (from === "compacted") {
        this.stop(compactedError(shard, history.floor, "the watch fell behind the change history"));
        return false;
      }
      // Scans on until the end, or until a message is full: MESSAGE_EVENTS_MAX events or MESSAGE_VALUE_BYTES of values.
      let matched: ChangeEvent[] | undefined;
      let bytes = 0;
      let at = from;
      for (; at < history.end; at++) {
        const event = history.at(at)!;
        if (!this.matches(event.key)) continue;
        (matched ??= []).push(event);
        bytes += this.spec.withValues ? (event.entry?.value.length ?? 0) : 0;
        if (matched.length >= MESSAGE_EVENTS_MAX || bytes >= MESSAGE_VALUE_BYTES) {
          at++;
          break;
        }
      }
      const drained = at >= history.end;
      cursor = scannedTo(cursor, at > from ? history.at(at - 1) : undefined, drained ? replica.appliedIndex : undefined);
      this.cursors.set(shard, cursor);
      if (matched) this.push({ events: matched.map((e) => ownWire.of(shard, e, this.spec.withValues)), resume: this.resume() });
      if (drained) return true;
    }
  }

  /** The progress message: no events, and every cursor. */
  progress(): WatchMessage {
    return { progress: true, resume: this.resume() };
  }

  /** Ends the stream with `error` (once). */
  stop(error: ConnectError): void {
    if (this.failed) return;
    this.failed = true;
    this.fail(error);
  }

  private resume() {
    return [...this.cursors.keys()].map((shard) => {
      const p = this.cursorOf(shard)!;
      return { shard, index: BigInt(p.index), ordinal: p.ordinal };
    });
  }

  private matches(key: string): boolean {
    return this.spec.prefix ? key.startsWith(this.spec.key) : key === this.spec.key;
  }
}

/**
 * The position a scan of a shard's history reached: the last event it looked at, or,
 * having read to the end (`appliedIndex` given), the whole of every entry applied so far,
 * since each produced all its events.
 */
export function scannedTo(cursor: Position, last: ChangeEvent | undefined, appliedIndex: number | undefined): Position {
  if (last !== undefined) cursor = { index: last.index, ordinal: last.ordinal };
  if (appliedIndex !== undefined && (cursor.index < appliedIndex || (cursor.index === appliedIndex && cursor.ordinal < ORDINAL_WHOLE))) {
    return { index: appliedIndex, ordinal: ORDINAL_WHOLE };
  }
  return cursor;
}

function valueBytes(events: readonly ChangeEvent[]): number {
  let bytes = 0;
  for (const e of events) bytes += e.entry?.value.length ?? 0;
  return bytes;
}

type WireEvent = NonNullable<WatchMessage["events"]>[number];

/**
 * Events in their message form. A shared instance (one per scan) builds each event's
 * form once, with or without its value, for every watcher the scan serves.
 */
export class WireEvents {
  private readonly forms: [Map<ChangeEvent, WireEvent>, Map<ChangeEvent, WireEvent>] | undefined;

  constructor(shared: boolean) {
    this.forms = shared ? [new Map(), new Map()] : undefined;
  }

  of(shard: number, event: ChangeEvent, withValues: boolean): WireEvent {
    const forms = this.forms?.[withValues ? 1 : 0];
    let form = forms?.get(event);
    if (form === undefined) {
      form = wireEvent(shard, event, withValues);
      forms?.set(event, form);
    }
    return form;
  }
}

const ownWire = new WireEvents(false);

function wireEvent(shard: number, event: ChangeEvent, withValues: boolean): WireEvent {
  const { entry } = event;
  const payload =
    withValues && entry !== undefined
      ? entry.text
        ? { case: "text" as const, value: decoder.decode(entry.value) }
        : { case: "value" as const, value: entry.value }
      : undefined;
  return {
    type: KINDS[event.kind],
    key: event.key,
    version: BigInt(entry?.version ?? 0),
    shard,
    index: BigInt(event.index),
    ordinal: event.ordinal,
    ...(payload ? { payload } : {}),
  };
}

/** About how many bytes a message holds: its keys and values, and a fixed cost per event and position. */
export function messageBytes(message: WatchMessage): number {
  let bytes = 16 * (message.resume?.length ?? 0);
  for (const event of message.events ?? []) {
    const value = event.payload?.value;
    bytes += 48 + (event.key?.length ?? 0) + (typeof value === "string" ? value.length : (value?.length ?? 0));
  }
  return bytes;
}
