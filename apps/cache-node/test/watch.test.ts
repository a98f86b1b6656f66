import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CacheService, CompactedSchema, EventType, type ShardPosition, type WatchEvent, type WatchResponse } from "@distcache/proto";
import { Ring } from "@distcache/ring";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { startNode, stopNode } from "../../../tools/scripts/local-nodes.mjs";

interface Started {
  pid: number;
  url: string;
}

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-watch-"));
let node: Started;
let cache: Client<typeof CacheService>;

beforeAll(async () => {
  node = (await startNode({
    nodeId: "w1",
    dataDir: join(dataRoot, "w1"),
    args: ["--watch-history-events", "200", "--connection-watchers-max", "2", "--stream-progress-ms", "100", "--stream-queue-max", "4"],
  })) as Started;
  cache = createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
});

afterAll(async () => {
  if (node) await stopNode(node);
  rmSync(dataRoot, { recursive: true, force: true });
});

/** A watch stream read message by message; `stop` ends it. */
function open(request: Parameters<Client<typeof CacheService>["watch"]>[0], client = cache) {
  const stop = new AbortController();
  const iterator = client.watch(request, { signal: stop.signal })[Symbol.asyncIterator]();
  return { next: async () => (await iterator.next()).value as WatchResponse, stop: () => stop.abort() };
}

/** Reads messages until `count` events came, and returns them with the last message's resume token. */
async function events(stream: ReturnType<typeof open>, count: number): Promise<{ events: WatchEvent[]; resume: ShardPosition[] }> {
  const seen: WatchEvent[] = [];
  let resume: ShardPosition[] = [];
  while (seen.length < count) {
    const message = await stream.next();
    seen.push(...message.events);
    resume = message.resume;
  }
  return { events: seen, resume };
}

async function failure(stream: ReturnType<typeof open>): Promise<ConnectError> {
  try {
    for (;;) await stream.next();
  } catch (err) {
    return ConnectError.from(err);
  }
}

const summary = (e: WatchEvent) => `${EventType[e.type]} ${e.key}`;
const position = (e: Pick<WatchEvent, "index" | "ordinal">) => Number(e.index) * 2 ** 32 + e.ordinal;

describe("CacheService.Watch on one node", () => {
  it("opens with a progress message naming every shard, then streams each change of the prefix once, in order per shard", async () => {
    const stream = open({ key: "p1/", prefix: true, withValues: true });
    try {
      const opening = await stream.next();
      expect(opening.progress).toBe(true);
      expect(opening.resume.map((p) => p.shard).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
      await cache.set({ key: "p1/a", payload: { case: "text", value: "one" } });
      await cache.set({ key: "other", payload: { case: "text", value: "x" } });
      await cache.set({ key: "p1/b", payload: { case: "text", value: "two" } });
      await cache.set({ key: "p1/a", payload: { case: "text", value: "three" } });
      await cache.delete({ key: "p1/b" });
      const { events: seen } = await events(stream, 4);
      expect(seen.map(summary)).toEqual(["PUT p1/a", "PUT p1/b", "PUT p1/a", "DELETE p1/b"]);
      expect(seen.map((e) => (e.payload.case === "text" ? e.payload.value : undefined))).toEqual(["one", "two", "three", undefined]);
      expect(Number(seen[2]!.version)).toBeGreaterThan(Number(seen[0]!.version));
      const byShard = new Map<number, number[]>();
      for (const e of seen) byShard.set(e.shard, [...(byShard.get(e.shard) ?? []), position(e)]);
      for (const list of byShard.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
    } finally {
      stream.stop();
    }
  });

  it("watches one key only, without values unless asked", async () => {
    const stream = open({ key: "k1/x" });
    try {
      const opening = await stream.next();
      expect(opening.resume).toHaveLength(1);
      await cache.set({ key: "k1/xy", payload: { case: "text", value: "no" } });
      await cache.set({ key: "k1/x", payload: { case: "text", value: "yes" } });
      const { events: seen } = await events(stream, 1);
      expect(seen.map(summary)).toEqual(["PUT k1/x"]);
      expect(seen[0]!.payload.case).toBeUndefined();
    } finally {
      stream.stop();
    }
  });

  it("reports an expiry once the shard removes the key, within about a round of background work after its TTL", async () => {
    const stream = open({ key: "e1/k" });
    try {
      await stream.next();
      await cache.set({ key: "e1/k", payload: { case: "text", value: "short" }, ttlMs: 300n });
      const expiresAt = performance.now() + 300;
      const { events: seen } = await events(stream, 2);
      expect(seen.map(summary)).toEqual(["PUT e1/k", "EXPIRE e1/k"]);
      // The node proposes a sweeping no-op each second (config key idleEntryIntervalMs) on a shard holding expired keys.
      expect(performance.now() - expiresAt).toBeLessThan(3000);
    } finally {
      stream.stop();
    }
  });

  it("resumes from a token with exactly the events after it: no gap, no repeat", async () => {
    const first = open({ key: "r1/", prefix: true });
    await first.next();
    for (let i = 0; i < 10; i++) await cache.set({ key: `r1/${i}`, payload: { case: "text", value: String(i) } });
    const early = await events(first, 4);
    const all = [...early.events, ...(await events(first, 10 - early.events.length)).events];
    first.stop();
    // The token after the first message's events: the rest follow it exactly.
    const firstMessage = early.events;
    const resumed = open({ key: "r1/", prefix: true, start: early.resume });
    try {
      const opening = await resumed.next();
      expect(opening.progress).toBe(true);
      const rest = await events(resumed, 10 - firstMessage.length);
      // Shards interleave in arrival order: compare each shard's sequence.
      const ordered = (list: WatchEvent[]) => list.map((e) => `${e.shard}:${position(e)}:${summary(e)}`).sort();
      expect(ordered([...firstMessage, ...rest.events])).toEqual(ordered(all));
    } finally {
      resumed.stop();
    }
  });

  it("starts from a Get's position: exactly the changes after the read (read, then watch)", async () => {
    await cache.set({ key: "g1/k", payload: { case: "text", value: "before" } });
    const read = await cache.get({ key: "g1/k" });
    expect(read.position).toBeDefined();
    await cache.set({ key: "g1/k", payload: { case: "text", value: "after" } });
    const { results } = await cache.mGet({ keys: ["g1/k", "g1/other"] });
    expect(results.map((r) => r.position?.index)).toEqual([results[0]!.position?.index, results[1]!.position?.index]);
    const stream = open({ key: "g1/k", withValues: true, start: [read.position!] });
    try {
      await stream.next();
      const { events: seen } = await events(stream, 1);
      expect(seen.map((e) => (e.payload.case === "text" ? e.payload.value : ""))).toEqual(["after"]);
      expect(seen[0]!.version).toBe((await cache.get({ key: "g1/k" })).version);
    } finally {
      stream.stop();
    }
  });

  it("carries the current positions in progress messages while nothing matches", async () => {
    const stream = open({ key: "idle/", prefix: true });
    try {
      const opening = await stream.next();
      const before = new Map(opening.resume.map((p) => [p.shard, p.index]));
      await cache.set({ key: "busy", payload: { case: "text", value: "x" } });
      let moved = false;
      for (let i = 0; i < 50 && !moved; i++) {
        const later = await stream.next();
        expect(later.progress).toBe(true);
        expect(later.events).toHaveLength(0);
        moved = later.resume.some((p) => p.index > before.get(p.shard)!);
      }
      expect(moved).toBe(true);
    } finally {
      stream.stop();
    }
  });

  it("delivers a burst larger than the history (one entry) to a caught-up watcher, none of it compacted", async () => {
    const ring = new Ring([...Array(12).keys()]);
    const keys = Array.from({ length: 6000 }, (_, i) => `b1/${i}`)
      .filter((key) => ring.shardFor(key) === 5)
      .slice(0, 300);
    const stream = open({ key: "b1/", prefix: true });
    try {
      await stream.next();
      // 300 events of one shard in one entry, 200 retained.
      await cache.mSet({ items: keys.map((key) => ({ key, payload: { case: "text", value: "v" } })) });
      const { events: seen } = await events(stream, 300);
      expect(new Set(seen.map((e) => e.key)).size).toBe(300);
    } finally {
      stream.stop();
    }
  });

  it("paces a resumed watch's backlog to its queue: a backlog far above --stream-queue-bytes is delivered whole", async () => {
    const stream = open({ key: "q1/", prefix: true });
    const opening = await stream.next();
    stream.stop();
    const value = "x".repeat(20_000);
    for (let i = 0; i < 120; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => cache.set({ key: `q1/${i + j}`, payload: { case: "text", value } })));
    }
    // 2.4 MB of values wait in the history; the queue holds 4 messages or 1 MiB.
    const resumed = open({ key: "q1/", prefix: true, withValues: true, start: opening.resume });
    try {
      await resumed.next();
      await cache.set({ key: "q1/live", payload: { case: "text", value: "y" } });
      const { events: seen } = await events(resumed, 121);
      expect(new Set(seen.map((e) => e.key)).size).toBe(121);
    } finally {
      resumed.stop();
    }
  });

  it("answers out_of_range with a Compacted detail for a start older than the retained history", async () => {
    const stream = open({ key: "c1/", prefix: true });
    const opening = await stream.next();
    stream.stop();
    // 200 events per replica are kept: write far more than that to one shard.
    const ring = new Ring([...Array(12).keys()]);
    const keys = Array.from({ length: 4000 }, (_, i) => `c1/${i}`).filter((key) => ring.shardFor(key) === 3);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((key) => cache.set({ key, payload: { case: "text", value: "v" } })));
    }
    expect(keys.length).toBeGreaterThan(250);
    const err = await failure(open({ key: "c1/", prefix: true, start: opening.resume }));
    expect(err.code).toBe(Code.OutOfRange);
    expect(err.message).toMatch(/retains changes after index \d+/);
    const [detail] = err.findDetails(CompactedSchema);
    expect(detail).toBeDefined();
    expect(Number(detail!.oldestIndex)).toBeGreaterThan(Number(opening.resume.find((p) => p.shard === detail!.shard)!.index));
  });

  it("waits for a start its replica has not applied yet, and answers unavailable at the deadline", async () => {
    const started = performance.now();
    const stop = new AbortController();
    const err = await failure({
      next: async () =>
        (
          await cache
            .watch({ key: "", prefix: true, start: [{ shard: 0, index: 10n ** 12n }] }, { timeoutMs: 400, signal: stop.signal })
            [Symbol.asyncIterator]()
            .next()
        ).value,
      stop: () => stop.abort(),
    } as ReturnType<typeof open>);
    // The node's unavailable at its deadline, or the client's own deadline first; on a loaded machine the client's
    // deadline can reset the stream before either answer is read, which it reports as canceled.
    expect([Code.Unavailable, Code.DeadlineExceeded, Code.Canceled]).toContain(err.code);
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
  });

  it.each([
    ["an empty key without prefix", { key: "" }, /key/],
    ["a shard the key is not in", { key: "a", shards: [99] }, /shards/],
    ["an unknown shard", { key: "", prefix: true, shards: [12] }, /unknown shard 12/],
    [
      "a start naming a shard twice",
      {
        key: "",
        prefix: true,
        start: [
          { shard: 1, index: 0n },
          { shard: 1, index: 0n },
        ],
      },
      /named twice/,
    ],
    ["an oversized key", { key: "x".repeat(100_000) }, /key/],
  ])("refuses %s with invalid_argument", async (_name, request, why) => {
    const err = await failure(open(request));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.message).toMatch(why);
  });

  it("bounds watchers per connection with resource_exhausted, and frees the place when a watch ends", async () => {
    const h2 = createClient(CacheService, createGrpcTransport({ baseUrl: node.url }));
    const a = open({ key: "l/", prefix: true }, h2);
    const b = open({ key: "l/", prefix: true }, h2);
    try {
      await a.next();
      await b.next();
      const err = await failure(open({ key: "l/", prefix: true }, h2));
      expect(err.code).toBe(Code.ResourceExhausted);
      expect(err.message).toMatch(/--connection-watchers-max/);
      a.stop();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const c = open({ key: "l/", prefix: true }, h2);
      expect((await c.next()).progress).toBe(true);
      c.stop();
    } finally {
      a.stop();
      b.stop();
    }
  });
});
