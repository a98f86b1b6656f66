import { Code, ConnectError } from "@connectrpc/connect";
import { comparePositions, type ChangeEvent, type Position, type WatchHistory } from "../state-machine/watch-history.js";
import { scannedTo, WireEvents, type Watcher, type WatchedReplica } from "./watcher.js";

/**
 * The watchers of one shard on this node. Those caught up (their cursor at the fan's) are
 * served by one scan of the shard's new events: each event is matched against an index of
 * their keys and prefixes (a lookup per distinct prefix length, not a test per watcher),
 * and its message form is built once for all. A watcher behind (a resume's backlog, a
 * full queue, a batch too big for one message) reads the history by itself and joins the
 * caught-up ones once it reaches the end the scan reached.
 */
export class ShardFan {
  private history: WatchHistory | undefined;
  /** Where the shared scan reached in `history`. */
  private cursor: Position | undefined;
  private readonly caughtUp = new Set<Watcher>();
  private readonly behind = new Set<Watcher>();
  private readonly exact = new Map<string, Set<Watcher>>();
  private readonly prefixes = new Map<string, Set<Watcher>>();
  /** The distinct lengths of `prefixes`' keys, longest last, and how many prefixes have each. */
  private readonly prefixLengths = new Map<number, number>();

  constructor(readonly shard: number) {}

  get size(): number {
    return this.caughtUp.size + this.behind.size;
  }

  /** Every watcher of the shard. */
  watchers(): Watcher[] {
    return [...this.caughtUp, ...this.behind];
  }

  /** A new watcher starts behind: its first read, wherever it starts, is its own. */
  add(watcher: Watcher): void {
    this.behind.add(watcher);
  }

  remove(watcher: Watcher): void {
    this.behind.delete(watcher);
    if (this.caughtUp.delete(watcher)) {
      this.unindex(watcher);
      watcher.unfollow(this.shard, this.cursor!);
    }
  }

  /**
   * Offers the shard's new events: the shared scan for the caught-up watchers first, then
   * each watcher behind reads on. A replica replaced or gone (or a history that dropped
   * what the scan had not reached) puts every watcher behind, where its own read finds out.
   */
  offer(replica: WatchedReplica | undefined): void {
    if (replica?.history !== this.history) {
      if (this.cursor) this.demoteAll(this.cursor);
      this.history = replica?.history;
      this.cursor = replica ? scannedTo({ index: 0, ordinal: 0 }, undefined, replica.appliedIndex) : undefined;
    }
    if (replica) this.scan(replica);
    for (const watcher of [...this.behind]) {
      if (watcher.ended) continue;
      const drained = guarded(watcher, () => watcher.pull(this.shard));
      const at = watcher.cursorOf(this.shard);
      if (drained && this.cursor !== undefined && at !== undefined && comparePositions(at, this.cursor) === 0) this.promote(watcher);
    }
  }

  private scan(replica: WatchedReplica): void {
    const history = replica.history;
    const previous = this.cursor!;
    const from = history.firstAfter(previous);
    if (from === "compacted") {
      // Events the scan had not reached were dropped: each watcher's own read fails it.
      this.demoteAll(previous);
      this.cursor = scannedTo(history.floor, undefined, replica.appliedIndex);
      return;
    }
    const found = new Map<Watcher, ChangeEvent[]>();
    const end = history.end;
    // With no caught-up watcher there is nothing to match: the cursor only moves on.
    for (let at = this.caughtUp.size > 0 ? from : end; at < end; at++) {
      const event = history.at(at)!;
      this.matching(event.key, (w) => {
        const list = found.get(w);
        if (list) list.push(event);
        else found.set(w, [event]);
      });
    }
    // Every caught-up watcher's cursor moves with the fan's; only those with events are touched.
    this.cursor = scannedTo(previous, end > from ? history.at(end - 1) : undefined, replica.appliedIndex);
    if (found.size === 0) return;
    const wire = new WireEvents(true);
    for (const [watcher, events] of found) {
      if (!guarded(watcher, () => watcher.deliver(this.shard, events, wire))) this.demote(watcher, previous);
    }
  }

  /** Calls `each` for every caught-up watcher that matches `key`. */
  private matching(key: string, each: (w: Watcher) => void): void {
    const exact = this.exact.get(key);
    if (exact) for (const w of exact) each(w);
    for (const length of this.prefixLengths.keys()) {
      if (length > key.length) continue;
      const set = this.prefixes.get(length === key.length ? key : key.slice(0, length));
      if (set) for (const w of set) each(w);
    }
  }

  private promote(watcher: Watcher): void {
    this.behind.delete(watcher);
    this.caughtUp.add(watcher);
    watcher.follow(this.shard, () => this.cursor!);
    const index = watcher.isPrefix ? this.prefixes : this.exact;
    const set = index.get(watcher.key) ?? new Set<Watcher>();
    if (watcher.isPrefix && set.size === 0) this.prefixLengths.set(watcher.key.length, (this.prefixLengths.get(watcher.key.length) ?? 0) + 1);
    set.add(watcher);
    index.set(watcher.key, set);
  }

  /** The fan stops serving `watcher`, which has everything up to `at`. */
  private demote(watcher: Watcher, at: Position): void {
    if (this.caughtUp.delete(watcher)) {
      this.unindex(watcher);
      watcher.unfollow(this.shard, at);
    }
    this.behind.add(watcher);
  }

  private demoteAll(at: Position): void {
    for (const watcher of [...this.caughtUp]) this.demote(watcher, at);
  }

  private unindex(watcher: Watcher): void {
    const index = watcher.isPrefix ? this.prefixes : this.exact;
    const set = index.get(watcher.key);
    if (!set?.delete(watcher) || set.size > 0) return;
    index.delete(watcher.key);
    if (!watcher.isPrefix) return;
    const left = (this.prefixLengths.get(watcher.key.length) ?? 1) - 1;
    if (left === 0) this.prefixLengths.delete(watcher.key.length);
    else this.prefixLengths.set(watcher.key.length, left);
  }
}

/** Runs one watcher's part; a fault of its own ends that watcher (internal), not the others. */
function guarded(watcher: Watcher, part: () => boolean): boolean {
  try {
    return part();
  } catch (err) {
    watcher.stop(ConnectError.from(err, Code.Internal));
    return false;
  }
}
