import { utf8Length, type Entry } from "@distcache/store";

/**
 * A place in a shard's change stream: the log index of an entry and the ordinal of one
 * event within it (0, 1, ... in the order apply made them). A position names the events
 * delivered so far: resuming from it yields every event after it. ORDINAL_WHOLE stands
 * for "every event of the entry", the position of a state that applied the entry.
 */
export interface Position {
  readonly index: number;
  readonly ordinal: number;
}

/** The ordinal of a position that covers all of its entry's events. */
export const ORDINAL_WHOLE = 0xffff_ffff;

export type ChangeKind = "put" | "delete" | "expire" | "evict";

/** One committed change to a key, as apply produced it: the same on every replica. */
export interface ChangeEvent extends Position {
  readonly kind: ChangeKind;
  readonly key: string;
  /** The entry written, for a put. */
  readonly entry?: Entry;
}

/** How much change history a replica keeps in memory. */
export interface HistoryLimits {
  /** Events kept at most. */
  eventsMax: number;
  /** Bytes of keys and values kept at most (each event also counts EVENT_OVERHEAD_BYTES). */
  bytesMax: number;
}

export const HISTORY_LIMITS_DEFAULT: HistoryLimits = { eventsMax: 4096, bytesMax: 4 * 1024 * 1024 };

/** What one event costs beyond its key and value, for the byte bound. */
export const EVENT_OVERHEAD_BYTES = 64;

export function comparePositions(a: Position, b: Position): number {
  return a.index !== b.index ? a.index - b.index : a.ordinal - b.ordinal;
}

function eventBytes(event: ChangeEvent): number {
  return EVENT_OVERHEAD_BYTES + utf8Length(event.key) + (event.entry?.value.length ?? 0);
}

/**
 * A replica's recent change events, oldest first, bounded by count and bytes: appending
 * past a bound drops the oldest. `floor` is the position every held event comes after:
 * a resume from it or later is served from here, one from before it is compacted.
 * Pure (no clock, no I/O); rebuilt after a restart by re-applying the log.
 */
export class WatchHistory {
  private events: ChangeEvent[] = [];
  private head = 0;
  private bytes = 0;
  private floorValue: Position;
  /** The first event appended since the last markRead(): events from it on were not yet offered to watchers. */
  private unreadFrom: Position | undefined;
  /**
   * Called, during apply, before the bound drops an event not yet offered to watchers (a
   * burst larger than the history within one turn of the event loop): the watchers read
   * it now instead of finding it gone. Set by whoever fans events out; what it does must
   * not throw and must not wait.
   */
  beforeDrop: (() => void) | undefined;

  constructor(
    readonly limits: HistoryLimits,
    floor: Position = { index: 0, ordinal: ORDINAL_WHOLE },
  ) {
    this.floorValue = floor;
  }

  get floor(): Position {
    return this.floorValue;
  }

  /** Events held now. */
  get size(): number {
    return this.events.length - this.head;
  }

  /** Bytes held now, as the bound counts them. */
  get sizeBytes(): number {
    return this.bytes;
  }

  append(event: ChangeEvent): void {
    this.events.push(event);
    this.bytes += eventBytes(event);
    this.unreadFrom ??= { index: event.index, ordinal: event.ordinal };
    while (this.size > this.limits.eventsMax || (this.bytes > this.limits.bytesMax && this.size > 0)) {
      if (this.beforeDrop && this.unreadFrom && comparePositions(this.events[this.head]!, this.unreadFrom) >= 0) {
        this.unreadFrom = undefined;
        this.beforeDrop();
      }
      this.dropOldest();
    }
  }

  /** Every event held was offered to the watchers. */
  markRead(): void {
    this.unreadFrom = undefined;
  }

  /** Forgets every event: the replica's state was replaced by a snapshot at `index`. */
  reset(index: number): void {
    this.events = [];
    this.head = 0;
    this.bytes = 0;
    this.floorValue = { index, ordinal: ORDINAL_WHOLE };
    this.unreadFrom = undefined;
  }

  /**
   * Up to `limit` held events after `position`, oldest first, or "compacted" when events
   * after it were dropped (it is older than the floor).
   */
  after(position: Position, limit: number): ChangeEvent[] | "compacted" {
    const from = this.firstAfter(position);
    return from === "compacted" ? from : this.events.slice(from, Math.min(this.events.length, from + limit));
  }

  /**
   * Where the held events after `position` begin, for at(): from there to `end` they are
   * in order; "compacted" when events after it were dropped. Valid until the next append.
   */
  firstAfter(position: Position): number | "compacted" {
    // No entry has index 0: (0, anything) is the start of the log.
    if (position.index === 0) position = { index: 0, ordinal: ORDINAL_WHOLE };
    if (comparePositions(position, this.floorValue) < 0) return "compacted";
    let low = this.head;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (comparePositions(this.events[middle]!, position) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The end of the held events, for at(). */
  get end(): number {
    return this.events.length;
  }

  /** The held event at a place firstAfter() gave (up to `end`). */
  at(place: number): ChangeEvent | undefined {
    return place >= this.head ? this.events[place] : undefined;
  }

  private dropOldest(): void {
    const oldest = this.events[this.head]!;
    this.head++;
    this.bytes -= eventBytes(oldest);
    this.floorValue = { index: oldest.index, ordinal: oldest.ordinal };
    // Compacts the array once the dropped prefix is as long as what is held.
    if (this.head >= 1024 && this.head * 2 >= this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }
}
