import { assert } from "./assert.js";
import type { LogIndex, NodeId } from "./types.js";

/** A ReadIndex request held by the leader. `from` is the node that asked (the leader itself for local reads). */
export interface ReadRequest {
  readonly context: Uint8Array;
  readonly from: NodeId;
}

interface RegisteredRead extends ReadRequest {
  readonly index: LogIndex;
  readonly round: number;
}

/**
 * The leader's ReadIndex bookkeeping (thesis §6.4), without log writes:
 *  1. Until an entry of its own term commits, a new leader does not know the
 *     true commit index, so requests wait in `waiting`.
 *  2. Then each request records the current commit index as its read index and
 *     joins the open round. All requests that arrive between two Readys share
 *     one round, so one heartbeat broadcast confirms them all (batching).
 *  3. A heartbeat carries the newest round started before it was sent; once a
 *     quorum acknowledged round r, every request in rounds <= r is released.
 * Both queues together hold at most `limit` requests.
 */
export class ReadOnly {
  private readonly limit: number;
  private waiting: ReadRequest[] = [];
  private registered: RegisteredRead[] = [];
  /** The round that newly registered requests join; it is broadcast at the next flush. */
  private openRound = 1;

  constructor(limit: number) {
    this.limit = limit;
  }

  get size(): number {
    return this.waiting.length + this.registered.length;
  }

  isFull(): boolean {
    return this.size >= this.limit;
  }

  /** Newest round already broadcast (0 before the first). */
  get lastStartedRound(): number {
    return this.openRound - 1;
  }

  wait(request: ReadRequest): void {
    assert(!this.isFull(), "ReadIndex queue overflow");
    this.waiting.push(request);
  }

  /** Moves every waiting request into the open round, reading at `commit`. */
  registerWaiting(commit: LogIndex): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const request of waiting) this.register(request, commit);
  }

  register(request: ReadRequest, commit: LogIndex): void {
    assert(this.size < this.limit || this.waiting.includes(request), "ReadIndex queue overflow");
    const newest = this.registered[this.registered.length - 1];
    assert(newest === undefined || newest.index <= commit, "read indexes must not decrease");
    this.registered.push({ context: request.context, from: request.from, index: commit, round: this.openRound });
  }

  /** True if requests joined the open round and it still needs its heartbeat broadcast. */
  hasUnstartedRound(): boolean {
    const newest = this.registered[this.registered.length - 1];
    return newest !== undefined && newest.round === this.openRound;
  }

  /** Closes the open round for broadcast and returns its number. */
  startRound(): number {
    const round = this.openRound;
    this.openRound += 1;
    return round;
  }

  /** Removes and returns, oldest first, the requests whose round a quorum confirmed. */
  release(confirmedRound: number): ReadonlyArray<ReadRequest & { readonly index: LogIndex }> {
    let count = 0;
    while (count < this.registered.length && this.registered[count]!.round <= confirmedRound) count += 1;
    if (count === 0) return [];
    const released = this.registered.slice(0, count);
    this.registered = this.registered.slice(count);
    return released;
  }

  reset(): void {
    this.waiting = [];
    this.registered = [];
    this.openRound = 1;
  }
}
