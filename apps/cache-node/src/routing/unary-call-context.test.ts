import { CacheService } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { UnaryCallContext } from "./unary-call-context.js";

function context(timeoutMs: number | undefined, startedMs = performance.now()) {
  const armed: AbortController[] = [];
  let headersBuilt = 0;
  const ctx = new UnaryCallContext({
    method: CacheService.method.set,
    service: CacheService,
    url: "/distcache.v1.CacheService/Set",
    protocolName: "connect",
    timeoutMs,
    startedMs,
    armSignal: (c) => armed.push(c),
    requestHeader: () => {
      headersBuilt++;
      return new Headers({ "x-a": "1" });
    },
  });
  return { ctx, armed, headersBuilt: () => headersBuilt };
}

describe("the context of a unary call", () => {
  it("counts its deadline down from the call's start, in whole milliseconds", () => {
    expect(context(undefined).ctx.timeoutMs()).toBeUndefined();
    const { ctx } = context(1000, performance.now() - 250.5);
    const left = ctx.timeoutMs()!;
    expect(Number.isInteger(left)).toBe(true);
    expect(left).toBeLessThanOrEqual(750);
    expect(left).toBeGreaterThan(700);
    expect(context(100, performance.now() - 500).ctx.timeoutMs()).toBe(0);
  });

  it("builds its signal and request headers only when asked, once", () => {
    const { ctx, armed, headersBuilt } = context(1000);
    expect(armed).toHaveLength(0);
    expect(headersBuilt()).toBe(0);
    const signal = ctx.signal;
    expect(ctx.signal).toBe(signal);
    expect(armed).toHaveLength(1);
    armed[0]!.abort(new Error("gone"));
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.requestHeader.get("x-a")).toBe("1");
    expect(ctx.requestHeader).toBe(ctx.requestHeader);
    expect(headersBuilt()).toBe(1);
    expect(ctx.values).toBe(ctx.values);
    expect(ctx).toMatchObject({ requestMethod: "POST", protocolName: "connect", url: "/distcache.v1.CacheService/Set", service: CacheService });
    expect(ctx.method.name).toBe("Set");
  });

  it("sends the headers the implementation set, and its trailers prefixed as Connect's unary answers carry them", () => {
    const { ctx } = context(undefined);
    expect(ctx.sentHeaders()).toEqual([]);
    ctx.responseHeader.set("x-h", "v");
    ctx.responseTrailer.set("x-t", "w");
    expect(ctx.sentHeaders()).toEqual([
      ["x-h", "v"],
      ["trailer-x-t", "w"],
    ]);
  });
});
