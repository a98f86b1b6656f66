import { describe, expect, it } from "vitest";
import { WatchHub } from "./watch-hub.js";

describe("WatchHub.nextChange", () => {
  it("resolves at the shard's next change, not at another shard's", async () => {
    const hub = new WatchHub(() => undefined);
    let woke = false;
    const waiting = hub.nextChange(3, 60_000).then(() => (woke = true));
    hub.changed(4);
    await new Promise((r) => setImmediate(r));
    expect(woke).toBe(false);
    hub.changed(3);
    await waiting;
    expect(woke).toBe(true);
  });

  it("resolves after its bound without a change, and a later change finds no waiter left", async () => {
    const hub = new WatchHub(() => undefined);
    const started = performance.now();
    await hub.nextChange(1, 30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    hub.changed(1);
    expect((hub as unknown as { waiting: Map<number, unknown> }).waiting.size).toBe(0);
  });

  it("resolves when its signal aborts, before its bound", async () => {
    const hub = new WatchHub(() => undefined);
    const abort = new AbortController();
    const started = performance.now();
    const waiting = hub.nextChange(5, 60_000, abort.signal);
    setTimeout(() => abort.abort(), 20);
    await waiting;
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("wakes every waiter of the shard", async () => {
    const hub = new WatchHub(() => undefined);
    const all = Promise.all([hub.nextChange(2, 60_000), hub.nextChange(2, 60_000)]);
    hub.changed(2);
    await expect(all).resolves.toHaveLength(2);
  });
});
