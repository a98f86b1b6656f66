import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { CacheService, CallErrorSchema, NotLeaderSchema, type BatchResult } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { CALL_BATCHING_DEFAULTS, batchingClient, type CallBatchingOptions } from "./call-batching.js";
import { classifyFailure } from "./retry-policy.js";

interface NodeOptions {
  /** How the node answers Batch: serving it, or refusing it whole (not served, too large, at a bound), or one result short. */
  batch?: "served" | "unimplemented" | "refused" | "overloaded" | "short";
  /** How long a Set (alone or in a batch) takes. */
  holdMs?: number;
  /** How long a Batch takes before it is answered or refused. */
  batchHoldMs?: number;
  batching?: Partial<CallBatchingOptions>;
}

/** A node whose Batch runs each call through the same single-call handlers, counting what it received. */
function node(options: NodeOptions = {}) {
  const received = { batches: [] as number[], single: 0, batchAttempts: 0 };
  const values = new Map<string, string>();
  const single: Pick<ServiceImpl<typeof CacheService>, "get" | "set"> = {
    get: (req) => ({ found: values.has(req.key), payload: { case: "text", value: values.get(req.key) ?? "" } }),
    set: (req) => {
      if (req.key === "elsewhere")
        throw new ConnectError("not the leader", Code.FailedPrecondition, undefined, [
          { desc: NotLeaderSchema, value: create(NotLeaderSchema, { shard: 2, leaderId: "n2", leaderAddress: "127.0.0.1:9" }) },
        ]);
      values.set(req.key, req.payload.case === "text" ? req.payload.value : "");
      return { version: BigInt(values.size) };
    },
  };
  const transport = createRouterTransport((router) =>
    router.service(CacheService, {
      get: (req, ctx) => (received.single++, single.get(req, ctx)),
      set: async (req, ctx) => {
        received.single++;
        if (options.holdMs) await new Promise((r) => setTimeout(r, options.holdMs));
        return single.set(req, ctx);
      },
      batch: async (req, ctx) => {
        received.batchAttempts++;
        if (options.batchHoldMs) await new Promise((r) => setTimeout(r, options.batchHoldMs));
        if (options.batch === "unimplemented") throw new ConnectError("not served", Code.Unimplemented);
        if (options.batch === "refused") throw new ConnectError("too large", Code.ResourceExhausted);
        if (options.batch === "overloaded") throw new ConnectError("1024 requests in flight; retry later", Code.ResourceExhausted);
        received.batches.push(req.calls.length);
        if (options.holdMs) await new Promise((r) => setTimeout(r, options.holdMs));
        const results = await Promise.all(
          req.calls.map(async (call): Promise<BatchResult["result"]> => {
            try {
              if (call.call.case === "get") return { case: "get", value: create(CacheService.method.get.output, await single.get(call.call.value, ctx)) };
              if (call.call.case === "set") return { case: "set", value: create(CacheService.method.set.output, await single.set(call.call.value, ctx)) };
              throw new ConnectError("unexpected call", Code.Internal);
            } catch (err) {
              const e = ConnectError.from(err);
              const details = e.findDetails(NotLeaderSchema).map((d) => ({ type: NotLeaderSchema.typeName, value: toBinary(NotLeaderSchema, d) }));
              const code = e.code === Code.FailedPrecondition ? "failed_precondition" : "internal";
              return { case: "error", value: create(CallErrorSchema, { code, message: e.rawMessage, details }) };
            }
          }),
        );
        return { results: results.slice(0, options.batch === "short" ? -1 : undefined).map((result) => ({ result })) };
      },
    }),
  );
  return { received, client: batchingClient(createClient(CacheService, transport), { ...CALL_BATCHING_DEFAULTS, ...options.batching }) };
}

const text = (value: string) => ({ case: "text" as const, value });

describe("batchingClient", () => {
  it("sends concurrent calls as one Batch, each caller getting its own answer", async () => {
    const { received, client } = node();
    const sets = await Promise.all(Array.from({ length: 10 }, (_, i) => client.set({ key: `k${i}`, payload: text(`v${i}`) })));
    // The first finds the client idle and leaves at once; the others leave together.
    expect(received).toMatchObject({ batches: [9], single: 1 });
    expect(new Set(sets.map((s) => s.version)).size).toBe(10);
    const gets = await Promise.all([client.get({ key: "k3" }), client.get({ key: "k7" }), client.get({ key: "nope" })]);
    expect(gets.map((g) => (g.found ? g.payload.value : null))).toEqual(["v3", "v7", null]);
    expect(received).toMatchObject({ batches: [9, 2], single: 2 });
  });

  it("sends a lone call as itself", async () => {
    const { received, client } = node();
    await client.set({ key: "solo", payload: text("x") });
    expect(received).toMatchObject({ batches: [], single: 1, batchAttempts: 0 });
  });

  it("gives a call's error, with its details, to that caller alone, as a node's answer", async () => {
    const { client } = node();
    // The first leaves alone (the client was idle); the other two in one Batch.
    const [, ok, refused] = await Promise.allSettled([
      client.set({ key: "first", payload: text("0") }),
      client.set({ key: "here", payload: text("x") }),
      client.set({ key: "elsewhere", payload: text("y") }),
    ]);
    expect(ok.status).toBe("fulfilled");
    const err = ConnectError.from((refused as PromiseRejectedResult).reason);
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.findDetails(NotLeaderSchema)[0]).toMatchObject({ shard: 2, leaderId: "n2" });
    // The retry policy reads it exactly as a lone call's refusal: follow the named leader.
    expect(classifyFailure(err, true)).toMatchObject({ type: "redirect", leaderId: "n2", shard: 2 });
  });

  it("splits at callsMax", async () => {
    const { received, client } = node();
    await Promise.all(Array.from({ length: 600 }, (_, i) => client.set({ key: `m${i}`, payload: text("v") })));
    expect(received.batches).toEqual([256, 256, 87]);
  });

  it("holds calls made while inFlightMax requests are out, and sends them together when one is answered", async () => {
    const { received, client } = node({ holdMs: 60, batching: { lingerMs: 10_000 } });
    const turn = () => new Promise((r) => setImmediate(r));
    const wave = (name: string, count: number) => Array.from({ length: count }, (_, i) => client.set({ key: `${name}${i}`, payload: text("v") }));
    // One call alone (the client was idle), then two together: both slots taken.
    const first = wave("a", 3);
    await turn();
    const second = [...wave("b", 2), ...(await turn().then(() => wave("c", 1)))];
    await Promise.all([...first, ...second]);
    expect(received).toMatchObject({ batches: [2, 3], single: 1 });
  });

  it("holds a call back by lingerMs at most while every slot stays taken", async () => {
    const { received, client } = node({ holdMs: 300 });
    const started = performance.now();
    const first = [client.set({ key: "a", payload: text("1") }), client.set({ key: "b", payload: text("1") }), client.set({ key: "c", payload: text("1") })];
    await new Promise((r) => setImmediate(r));
    // Both slots are held for 300 ms; this one leaves after the 1 ms linger regardless.
    const late = [client.set({ key: "d", payload: text("1") }), client.set({ key: "e", payload: text("1") })];
    await new Promise((r) => setTimeout(r, 50));
    expect(received.batches).toEqual([2, 2]);
    await Promise.all([...first, ...late]);
    expect(performance.now() - started).toBeLessThan(550);
  });

  const three = (client: ReturnType<typeof node>["client"], prefix: string) =>
    [1, 2, 3].map((i) => client.set({ key: `${prefix}${i}`, payload: text(String(i)) }));

  it("falls back to lone calls where Batch is not served, and stays there", async () => {
    const { received, client } = node({ batch: "unimplemented" });
    await Promise.all(three(client, "a"));
    expect(received).toMatchObject({ batchAttempts: 1, single: 3 });
    await Promise.all(three(client, "b"));
    expect(received).toMatchObject({ batches: [], batchAttempts: 1, single: 6 });
  });

  it("asks a node that did not serve Batch again after unsupportedRetryMs", async () => {
    const { received, client } = node({ batch: "unimplemented", batching: { unsupportedRetryMs: 20 } });
    await Promise.all(three(client, "a"));
    await new Promise((r) => setTimeout(r, 40));
    await Promise.all(three(client, "b"));
    expect(received).toMatchObject({ batchAttempts: 2, single: 6 });
  });

  it("sends the calls of a batch refused as a whole one by one, but not those that ended meanwhile", async () => {
    const { received, client } = node({ batch: "refused", batchHoldMs: 60 });
    const controller = new AbortController();
    const calls = [...three(client, "a"), client.set({ key: "gone", payload: text("x") }, { signal: controller.signal })];
    const settled = Promise.allSettled(calls);
    setTimeout(() => controller.abort(), 10);
    const outcomes = await settled;
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected"]);
    // The first alone, two of the batch alone; the aborted one never left again.
    expect(received).toMatchObject({ batchAttempts: 1, single: 3 });
  });

  it("gives a node's 'retry later' to each call of the batch instead of resending them one by one", async () => {
    const { received, client } = node({ batch: "overloaded" });
    const outcomes = await Promise.allSettled(three(client, "a"));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "rejected"]);
    const err = ConnectError.from((outcomes[1] as PromiseRejectedResult).reason);
    expect(classifyFailure(err, true)).toEqual({ type: "backoff", reason: "overloaded" });
    expect(received.single).toBe(1);
  });

  it("leaves a call the node's answer has no result for of unknown fate", async () => {
    const { client } = node({ batch: "short" });
    const outcomes = await Promise.allSettled(three(client, "a"));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    const err = ConnectError.from((outcomes[2] as PromiseRejectedResult).reason);
    expect(classifyFailure(err, true)).toEqual({ type: "indeterminate" });
  });

  it("ends a call at its own deadline or abort while the rest of its batch goes on", async () => {
    const { client } = node({ holdMs: 150, batching: { lingerMs: 10_000 } });
    const controller = new AbortController();
    const calls = [
      client.set({ key: "first", payload: text("0") }),
      client.set({ key: "late", payload: text("1") }, { timeoutMs: 20 }),
      client.set({ key: "aborted", payload: text("2") }, { signal: controller.signal }),
      client.set({ key: "patient", payload: text("3") }, { timeoutMs: 5000 }),
    ];
    const settled = Promise.allSettled(calls);
    setTimeout(() => controller.abort(), 10);
    // Both slots are taken now: this one waits, and its deadline passes before it leaves.
    await new Promise((r) => setImmediate(r));
    const unsent = await client.set({ key: "queued", payload: text("4") }, { timeoutMs: 20 }).catch((e: unknown) => ConnectError.from(e));
    expect(unsent).toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringContaining("it was not sent") });
    // The router reads it as a write that did not take effect.
    expect(classifyFailure(unsent as ConnectError, true)).toMatchObject({ type: "rediscover" });
    const [, late, aborted, patient] = await settled;
    expect(ConnectError.from((late as PromiseRejectedResult).reason).code).toBe(Code.DeadlineExceeded);
    expect(ConnectError.from((aborted as PromiseRejectedResult).reason).code).toBe(Code.Canceled);
    expect(patient?.status).toBe("fulfilled");
  });
});
