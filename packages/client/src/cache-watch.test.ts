import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CompactedSchema, EventType } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import type { WatchEvent } from "./cache-watch.js";
import { InvalidArgumentError, ResourceExhaustedError, WatchCompactedError } from "./errors.js";
import { setupClient } from "./testing/setup-client.js";

const put = (key: string, index: number, text: string) => ({
  type: EventType.PUT,
  key,
  version: BigInt(index),
  shard: 0,
  index: BigInt(index),
  ordinal: 0,
  payload: { case: "text" as const, value: text },
});
const at = (index: number, ordinal = 0xffffffff) => [{ shard: 0, index: BigInt(index), ordinal }];
const compacted = () =>
  new ConnectError("shard 0 retains changes after index 50 only", Code.OutOfRange, undefined, [
    { desc: CompactedSchema, value: create(CompactedSchema, { shard: 0, oldestIndex: 50n, oldestOrdinal: 0 }) },
  ]);

/** Collects `count` events of a watch, then closes it. */
async function take(watch: AsyncIterable<WatchEvent> & { close(): void }, count: number): Promise<WatchEvent[]> {
  const seen: WatchEvent[] = [];
  for await (const event of watch) {
    seen.push(event);
    if (seen.length === count) break;
  }
  watch.close();
  return seen;
}

describe("CacheClient.watch", () => {
  it("resumes on another node from the positions delivered, and gives each event the token just after it", async () => {
    const { client, cluster } = setupClient();
    cluster.watchAt = async function* (nodeId, request) {
      if (cluster.watchCalls.length === 1) {
        yield { progress: true, resume: at(10) };
        yield { events: [put("a", 11, "1"), put("b", 12, "2")], resume: at(12) };
        throw new ConnectError("node stopping", Code.Unavailable);
      }
      expect(nodeId).not.toBe(cluster.watchCalls[0]!.nodeId);
      expect(request.start).toEqual([expect.objectContaining({ shard: 0, index: 12n, ordinal: 0xffffffff })]);
      yield { progress: true, resume: at(12) };
      yield { events: [put("c", 13, "3")], resume: at(13) };
    };
    const seen = await take(client.watch("", { prefix: true, withValues: true }), 3);
    expect(seen.map((e) => `${e.type} ${e.key}=${e.text}`)).toEqual(["put a=1", "put b=2", "put c=3"]);
    expect(seen.map((e) => e.resume[0]!.index)).toEqual([11n, 12n, 13n]);
    expect(seen[0]!.resume[0]!.ordinal).toBe(0);
    expect(cluster.watchCalls).toHaveLength(2);
  });

  it("starts from a given position, and its token names the last event taken", async () => {
    const { client, cluster } = setupClient();
    cluster.watchAt = async function* (_nodeId, request) {
      expect(request.start).toEqual([expect.objectContaining({ shard: 0, index: 7n, ordinal: 2 })]);
      yield { progress: true, resume: at(7, 2) };
      yield { progress: true, resume: at(40) };
      yield { events: [put("k", 41, "v")], resume: at(41) };
    };
    const watch = client.watch("k", { from: { shard: 0, index: 7n, ordinal: 2 } });
    const seen = await take(watch, 1);
    expect(seen[0]!.position).toEqual({ shard: 0, index: 41n, ordinal: 0 });
    // The iteration stopped at the event: the token names it, not the rest of its message.
    expect(watch.resumeToken).toEqual([{ shard: 0, index: 41n, ordinal: 0 }]);
  });

  it("tries every node before it reports a compacted start: replicas' histories start at different points", async () => {
    const { client, cluster } = setupClient();
    cluster.watchAt = async function* (nodeId) {
      if (cluster.watchCalls.filter((c) => c.nodeId === nodeId).length === 1 && cluster.watchCalls.length < 3) throw compacted();
      yield { progress: true, resume: at(5) };
      yield { events: [put("k", 6, "v")], resume: at(6) };
    };
    expect((await take(client.watch("k", { from: at(5) }), 1)).map((e) => e.key)).toEqual(["k"]);
    expect(new Set(cluster.watchCalls.map((c) => c.nodeId)).size).toBe(3);
  });

  it("ends with WatchCompactedError once every node found the start compacted", async () => {
    const { client, cluster } = setupClient();
    cluster.watchAt = async function* () {
      yield* [];
      throw compacted();
    };
    const err = await take(client.watch("k", { from: at(5) }), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchCompactedError);
    expect((err as WatchCompactedError).oldest).toEqual({ index: 50n, ordinal: 0 });
    expect(new Set(cluster.watchCalls.map((c) => c.nodeId)).size).toBe(3);
  });

  it("ends with the error of a bad request, or of a watcher bound at the first connect; reconnects after a drop for reading slowly", async () => {
    const { client, cluster } = setupClient();
    cluster.watchAt = async function* () {
      yield* [];
      throw new ConnectError("key: too long", Code.InvalidArgument);
    };
    expect(await take(client.watch("k"), 1).catch((e: unknown) => e)).toBeInstanceOf(InvalidArgumentError);
    cluster.watchAt = async function* () {
      yield* [];
      throw new ConnectError("512 watchers (--watchers-max)", Code.ResourceExhausted);
    };
    expect(await take(client.watch("k"), 1).catch((e: unknown) => e)).toBeInstanceOf(ResourceExhaustedError);
    const calls = cluster.watchCalls.length;
    cluster.watchAt = async function* () {
      yield { progress: true, resume: at(1) };
      if (cluster.watchCalls.length === calls + 1) throw new ConnectError("fell 256 messages behind", Code.ResourceExhausted);
      yield { events: [put("k", 2, "v")], resume: at(2) };
    };
    expect((await take(client.watch("k"), 1)).map((e) => e.key)).toEqual(["k"]);
  });

  it("refuses a bad key at once, and accepts an empty prefix", () => {
    const { client } = setupClient();
    expect(() => client.watch("")).toThrow(InvalidArgumentError);
    client.watch("", { prefix: true }).close();
  });

  it("ends at once for a signal already aborted, and delivers nothing more after close() inside the loop", async () => {
    const { client, cluster } = setupClient();
    cluster.watchAt = async function* () {
      yield { progress: true, resume: at(1) };
      yield { events: [put("a", 2, "1"), put("b", 3, "2"), put("c", 4, "3")], resume: at(4) };
    };
    const aborted = new AbortController();
    aborted.abort();
    const none: WatchEvent[] = [];
    for await (const event of client.watch("", { prefix: true, signal: aborted.signal })) none.push(event);
    expect(none).toEqual([]);
    const watch = client.watch("", { prefix: true });
    const seen: string[] = [];
    for await (const event of watch) {
      seen.push(event.key);
      watch.close();
    }
    expect(seen).toEqual(["a"]);
  });

  it("reports each reconnect as a watchReconnect event with the reason", async () => {
    const { client, cluster, events } = setupClient();
    cluster.watchAt = async function* () {
      yield { progress: true, resume: at(1) };
      if (cluster.watchCalls.length === 1) throw new ConnectError("node stopping", Code.Unavailable);
      yield { events: [put("k", 2, "v")], resume: at(2) };
    };
    await take(client.watch("k"), 1);
    expect(events).toContainEqual(expect.objectContaining({ type: "watchReconnect", key: "k", reason: expect.stringMatching(/node stopping/) }));
  });
});
