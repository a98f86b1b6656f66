import { Code, ConnectError } from "@connectrpc/connect";
import type { Watcher } from "./watcher.js";

/**
 * Fans a node's change events out to its watchers, outside the driver's cycle: apply only
 * marks its shard changed; the watchers of every changed shard read their new events in
 * a later turn of the event loop (setImmediate), so producing events never slows apply
 * and a slow watcher is dropped by its stream's bounded queue, never waited for.
 */
export class WatchHub {
  private readonly byShard = new Map<number, Set<Watcher>>();
  private readonly changedShards = new Set<number>();
  private scheduled = false;
  private readonly hooks = new Map<number, () => void>();
  /** Those waiting for a shard's next change (a watch waiting for its replica to reach its start). */
  private readonly waiting = new Map<number, Set<() => void>>();
  /** Watch streams this node has open on other nodes (relays), for the metrics. */
  relaysOpen = 0;
  /** Events this node's watchers sent since start, for the metrics. */
  eventsSent = 0;

  /** Watchers registered now. */
  get size(): number {
    const all = new Set<Watcher>();
    for (const set of this.byShard.values()) for (const w of set) all.add(w);
    return all.size;
  }

  /** Registers `watcher` on each of its shards; returns the function that removes it. */
  add(watcher: Watcher): () => void {
    for (const shard of watcher.shards) {
      const set = this.byShard.get(shard) ?? new Set<Watcher>();
      set.add(watcher);
      this.byShard.set(shard, set);
      this.arm(shard, watcher);
    }
    return () => {
      for (const shard of watcher.shards) {
        const set = this.byShard.get(shard);
        set?.delete(watcher);
        if (set?.size === 0) {
          this.byShard.delete(shard);
          const history = watcher.historyOf(shard);
          if (history && history.beforeDrop === this.hooks.get(shard)) history.beforeDrop = undefined;
          this.hooks.delete(shard);
        }
      }
    };
  }

  /** Called after shard applied entries (or installed a snapshot), or lost its replica. */
  changed(shard: number): void {
    const waiting = this.waiting.get(shard);
    if (waiting) {
      this.waiting.delete(shard);
      for (const wake of waiting) wake();
    }
    if (!this.byShard.has(shard)) return;
    this.changedShards.add(shard);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Resolves at shard's next change, or after `ms`, whichever comes first. */
  nextChange(shard: number, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.waiting.get(shard) ?? new Set<() => void>();
      const wake = (): void => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.waiting.get(shard) === set) this.waiting.delete(shard);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      set.add(wake);
      this.waiting.set(shard, set);
    });
  }

  private flush(): void {
    this.scheduled = false;
    const shards = [...this.changedShards];
    this.changedShards.clear();
    for (const shard of shards) this.pullNow(shard);
  }

  /** Offers shard's new events to its watchers now, and marks them offered. */
  private pullNow(shard: number): void {
    const watchers = [...(this.byShard.get(shard) ?? [])];
    for (const watcher of watchers) {
      try {
        watcher.pull(shard);
      } catch (err) {
        watcher.stop(ConnectError.from(err, Code.Internal));
      }
    }
    const first = watchers[0];
    if (first) this.arm(shard, first);
    first?.historyOf(shard)?.markRead();
  }

  /**
   * Has the shard's history call back before it drops events its watchers were not yet
   * offered (a burst within one turn of the event loop), so they read them first. A
   * replica replaced since (a group dropped and added again) is armed at the next flush.
   */
  private arm(shard: number, watcher: Watcher): void {
    const history = watcher.historyOf(shard);
    if (!history) return;
    let hook = this.hooks.get(shard);
    if (!hook) {
      hook = () => this.pullNow(shard);
      this.hooks.set(shard, hook);
    }
    history.beforeDrop = hook;
  }
}
