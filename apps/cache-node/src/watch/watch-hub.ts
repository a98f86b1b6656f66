import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchHistory } from "../state-machine/watch-history.js";
import { ShardFan } from "./shard-fan.js";
import type { Watcher, WatchedReplica } from "./watcher.js";

/**
 * Fans a node's change events out to its watchers, outside the driver's cycle: apply only
 * marks its shard changed; the watchers of every changed shard get their new events in a
 * later turn of the event loop (setImmediate), through the shard's ShardFan (one shared
 * scan for the caught-up ones), so producing events never slows apply and a slow watcher
 * is dropped by its stream's bounded queue, never waited for.
 */
export class WatchHub {
  private readonly fans = new Map<number, ShardFan>();
  private readonly changedShards = new Set<number>();
  private scheduled = false;
  private readonly hooks = new Map<number, { history: WatchHistory; hook: () => void }>();
  /** Those waiting for a shard's next change (a watch waiting for its replica to reach its start). */
  private readonly waiting = new Map<number, Set<() => void>>();
  /** Watch streams this node has open on other nodes (relays), for the metrics. */
  relaysOpen = 0;
  /** Events this node's watchers sent since start, for the metrics. */
  eventsSent = 0;

  /** `replicaOf` gives this node's replica of a shard, while it holds one. */
  constructor(private readonly replicaOf: (shard: number) => WatchedReplica | undefined) {}

  /** Registers `watcher` on each of its shards; returns the function that removes it. */
  add(watcher: Watcher): () => void {
    for (const shard of watcher.shards) {
      let fan = this.fans.get(shard);
      if (!fan) {
        fan = new ShardFan(shard);
        this.fans.set(shard, fan);
      }
      fan.add(watcher);
      this.arm(shard);
    }
    return () => {
      for (const shard of watcher.shards) {
        const fan = this.fans.get(shard);
        fan?.remove(watcher);
        if (fan?.size === 0) {
          this.fans.delete(shard);
          this.disarm(shard);
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
    if (!this.fans.has(shard)) return;
    this.changedShards.add(shard);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Resolves at shard's next change, after `ms`, or when `signal` aborts, whichever comes first. */
  nextChange(shard: number, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.waiting.get(shard) ?? new Set<() => void>();
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        set.delete(wake);
        if (set.size === 0 && this.waiting.get(shard) === set) this.waiting.delete(shard);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms)).unref();
      signal?.addEventListener("abort", wake, { once: true });
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
    const fan = this.fans.get(shard);
    if (!fan) return;
    const replica = this.replicaOf(shard);
    try {
      fan.offer(replica);
    } catch (err) {
      // A fault of the fan's own: its watchers end with it (internal), and a new fan, not
      // one left half-updated, takes the shard's next watchers. The node goes on.
      for (const watcher of fan.watchers()) watcher.stop(ConnectError.from(err, Code.Internal));
      this.fans.set(shard, new ShardFan(shard));
    }
    this.arm(shard);
    replica?.history.markRead();
  }

  /**
   * Has the shard's history call back before it drops events its watchers were not yet
   * offered (a burst within one turn of the event loop), so they read them first. A
   * replica replaced since (a group dropped and added again) is armed at the next flush.
   */
  private arm(shard: number): void {
    const history = this.replicaOf(shard)?.history;
    if (!history) {
      this.disarm(shard);
      return;
    }
    const armed = this.hooks.get(shard);
    if (armed?.history === history && history.beforeDrop === armed.hook) return;
    if (armed && armed.history !== history && armed.history.beforeDrop === armed.hook) armed.history.beforeDrop = undefined;
    const hook = armed?.hook ?? (() => this.pullNow(shard));
    history.beforeDrop = hook;
    this.hooks.set(shard, { history, hook });
  }

  private disarm(shard: number): void {
    const armed = this.hooks.get(shard);
    if (armed && armed.history.beforeDrop === armed.hook) armed.history.beforeDrop = undefined;
    this.hooks.delete(shard);
  }
}
