import { assert } from "../assert.js";
import type { LogIndex } from "../types.js";

/**
 * The last indexes of AppendEntries sent to one follower and not yet
 * acknowledged, oldest first: the pipelining window. Bounded by
 * `inflightMessagesMax`; a full window pauses replication to that follower.
 */
export class Inflights {
  private readonly capacity: number;
  private readonly buffer: LogIndex[];
  private start = 0;
  private count = 0;

  constructor(capacity: number) {
    assert(capacity >= 1, "inflight capacity must be positive");
    this.capacity = capacity;
    this.buffer = new Array<LogIndex>(capacity);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(lastIndex: LogIndex): void {
    assert(!this.full(), "cannot add to a full inflight window");
    if (this.count > 0) {
      const newest = this.buffer[(this.start + this.count - 1) % this.capacity]!;
      assert(lastIndex > newest, "inflight indexes must increase");
    }
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count += 1;
  }

  /** Frees every message whose last index is <= `index` (the follower acknowledged up to it). */
  freeLE(index: LogIndex): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count -= 1;
    }
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}
