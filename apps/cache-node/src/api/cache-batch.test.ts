import { create, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { BatchRequestSchema, CacheService, NotLeaderSchema, type CallError } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { batchHandler, type BatchableHandlers } from "./cache-batch.js";
import { ANSWER_BUDGET, AnswerBudget, type BudgetedContext } from "./cache-reads.js";
import type { CacheServiceDeps } from "./service-support.js";

const deps = { limits: { batchKeysMax: 4 } } as unknown as CacheServiceDeps;

function parentContext(timeoutMs: number | undefined): HandlerContext {
  const controller = new AbortController();
  const started = performance.now();
  return {
    method: CacheService.method.batch,
    service: CacheService,
    requestMethod: "POST",
    protocolName: "connect",
    url: "/distcache.v1.CacheService/Batch",
    timeoutMs: () => (timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - (performance.now() - started))),
    signal: controller.signal,
    requestHeader: new Headers(),
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: createContextValues(),
  };
}

/** Handlers that record the context each call ran with. */
function recording() {
  const seen: { method: string; timeoutMs: number | undefined; key: string }[] = [];
  const note = (key: string, ctx: HandlerContext) => seen.push({ method: ctx.method.name, timeoutMs: ctx.timeoutMs(), key });
  const handlers: BatchableHandlers = {
    get: (req, ctx) => (note(req.key, ctx), { found: true, payload: { case: "text", value: `v-${req.key}` } }),
    set: (req, ctx) => {
      note(req.key, ctx);
      if (req.key === "led-elsewhere")
        throw new ConnectError("not the leader", Code.FailedPrecondition, undefined, [
          { desc: NotLeaderSchema, value: create(NotLeaderSchema, { shard: 3, leaderId: "n2", leaderAddress: "127.0.0.1:2" }) },
        ]);
      return { version: 7n };
    },
    delete: (req, ctx) => (note(req.key, ctx), { deleted: true }),
    incr: () => {
      throw new Error("disk on fire");
    },
  };
  return { seen, handlers };
}

describe("batchHandler", () => {
  it("runs every call through its own handler with its own method and deadline, answering in call order", async () => {
    const { seen, handlers } = recording();
    const batch = batchHandler(deps, handlers);
    const request = create(BatchRequestSchema, {
      calls: [
        { call: { case: "set", value: { key: "a" } }, timeoutMs: 50 },
        { call: { case: "get", value: { key: "b" } } },
        { call: { case: "set", value: { key: "led-elsewhere" } }, timeoutMs: 60_000 },
        { call: { case: "delete", value: { key: "c" } } },
      ],
    });
    const { results } = (await batch(request, parentContext(1000))) as { results: { result: { case: string; value: unknown } }[] };
    expect(results.map((r) => r.result.case)).toEqual(["set", "get", "error", "delete"]);
    expect(seen.map((s) => [s.method, s.key])).toEqual([
      ["Set", "a"],
      ["Get", "b"],
      ["Set", "led-elsewhere"],
      ["Delete", "c"],
    ]);
    // Its own 50 ms; the batch's deadline for a call without one, and for one asking more than it.
    expect(seen[0]!.timeoutMs).toBeLessThanOrEqual(50);
    expect(seen[1]!.timeoutMs).toBeGreaterThan(900);
    expect(seen[2]!.timeoutMs).toBeLessThanOrEqual(1000);
    const refusal = results[2]!.result.value as CallError;
    expect(refusal).toMatchObject({ code: "failed_precondition", message: "not the leader" });
    expect(refusal.details.map((d) => d.type)).toEqual(["distcache.v1.NotLeader"]);
    expect(fromBinary(NotLeaderSchema, refusal.details[0]!.value)).toMatchObject({ shard: 3, leaderId: "n2", leaderAddress: "127.0.0.1:2" });
  });

  it("answers an unexpected failure of one call as internal, and the others still succeed; each call is counted", async () => {
    const { handlers } = recording();
    const counted: [string, Code | undefined][] = [];
    const counting = { ...deps, onBatchCall: (method: string, code: Code | undefined) => counted.push([method, code]) } as CacheServiceDeps;
    const request = create(BatchRequestSchema, {
      calls: [{ call: { case: "incr", value: { key: "x", delta: 1n } } }, { call: { case: "get", value: { key: "y" } } }, {}],
    });
    const { results } = (await batchHandler(counting, handlers)(request, parentContext(undefined))) as {
      results: { result: { case: string; value: unknown } }[];
    };
    expect(counted).toEqual([
      ["Incr", Code.Internal],
      ["Get", undefined],
      ["unset", Code.InvalidArgument],
    ]);
    expect(results[0]!.result).toMatchObject({ case: "error", value: { code: "internal", message: "internal error: disk on fire" } });
    expect(results[1]!.result.case).toBe("get");
  });

  it("passes an error's received details through unchanged", async () => {
    const handlers = recording().handlers;
    const forwarded = new ConnectError("moved", Code.Unavailable);
    forwarded.details.push({ type: "distcache.v1.NotLeader", value: new Uint8Array([8, 5]) });
    handlers.delete = () => {
      throw forwarded;
    };
    const request = create(BatchRequestSchema, { calls: [{ call: { case: "delete", value: { key: "k" } } }] });
    const { results } = (await batchHandler(deps, handlers)(request, parentContext(undefined))) as { results: { result: { value: CallError } }[] };
    expect(results[0]!.result.value).toMatchObject({ code: "unavailable", details: [{ type: "distcache.v1.NotLeader", value: new Uint8Array([8, 5]) }] });
  });

  it("gives every Get of a batch one answer budget, and clamps a call's timeout_ms to what a timer can hold", async () => {
    const budgets: unknown[] = [];
    const timeouts: (number | undefined)[] = [];
    const handlers = recording().handlers;
    handlers.get = (req, ctx) => {
      budgets.push((ctx as BudgetedContext)[ANSWER_BUDGET]);
      timeouts.push(ctx.timeoutMs());
      return { found: false };
    };
    const request = create(BatchRequestSchema, {
      calls: [{ call: { case: "get", value: { key: "a" } } }, { call: { case: "get", value: { key: "b" } }, timeoutMs: 4_000_000_000 }],
    });
    await batchHandler({ limits: { batchKeysMax: 4, responseBytesMax: 100 } } as unknown as CacheServiceDeps, handlers)(request, parentContext(undefined));
    expect(budgets[0]).toBeInstanceOf(AnswerBudget);
    expect(budgets[1]).toBe(budgets[0]);
    expect(timeouts[0]).toBeUndefined();
    expect(timeouts[1]).toBeGreaterThan(2 ** 31 - 1000);
    expect(timeouts[1]).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it("refuses an empty batch, and one above batch_keys_max, as a whole", async () => {
    const batch = batchHandler(deps, recording().handlers);
    await expect(batch(create(BatchRequestSchema, {}), parentContext(undefined))).rejects.toMatchObject({ code: Code.InvalidArgument });
    const five = create(BatchRequestSchema, { calls: Array.from({ length: 5 }, () => ({ call: { case: "get" as const, value: { key: "k" } } })) });
    await expect(batch(five, parentContext(undefined))).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("batch_keys_max"),
    });
  });
});
