import { describe, expect, it } from "vitest";
import { resolveOptions, type CacheClientOptions } from "./client-options.js";

const base: CacheClientOptions = { transport: () => ({}) as never, seeds: ["http://127.0.0.1:7301"] };

/** [description, options] — each must be refused at creation. */
const INVALID: [string, Partial<CacheClientOptions>][] = [
  ["no seeds", { seeds: [] }],
  ["seed not a URL", { seeds: ["127.0.0.1:7301"] }],
  ["seed with another scheme", { seeds: ["ftp://127.0.0.1:7301"] }],
  ["timeoutMs 0", { timeoutMs: 0 }],
  ["timeoutMs fractional", { timeoutMs: 1.5 }],
  ["timeoutMs above the maximum", { timeoutMs: 10_000_000 }],
  ["attemptsMax 0", { attemptsMax: 0 }],
  ["attemptsMax above the limit", { attemptsMax: 1000 }],
  ["negative backoffMsMin", { backoffMsMin: -1 }],
  ["backoffMsMax below backoffMsMin", { backoffMsMin: 100, backoffMsMax: 50 }],
  ["batchKeysMax 0", { batchKeysMax: 0 }],
  ["batchKeysMax above the protocol's batchItemsMax", { batchKeysMax: 10_001 }],
  ["empty sessionId", { sessionId: "" }],
  ["sessionId of 129 ASCII bytes", { sessionId: "s".repeat(129) }],
  ["sessionId of 43 characters but 129 UTF-8 bytes", { sessionId: "€".repeat(43) }],
  ["sessionId with a lone surrogate", { sessionId: "s\uD800" }],
];

describe("resolveOptions", () => {
  it.each(INVALID)("refuses %s", (_, bad) => {
    expect(() => resolveOptions({ ...base, ...bad })).toThrow(RangeError);
  });

  it("accepts a sessionId of exactly 128 UTF-8 bytes, and batchKeysMax up to 10,000", () => {
    expect(resolveOptions({ ...base, sessionId: "😀".repeat(32) }).sessionId).toBe("😀".repeat(32));
    expect(resolveOptions({ ...base, batchKeysMax: 10_000 }).batchKeysMax).toBe(10_000);
  });

  it("fills in defaults with units", () => {
    const o = resolveOptions(base);
    expect([o.timeoutMs, o.attemptsMax, o.backoffMsMin, o.backoffMsMax, o.batchKeysMax]).toEqual([5000, 10, 25, 1000, 1000]);
    expect(o.sessionId).toMatch(/^[0-9a-f]{32}$/);
    expect(resolveOptions(base).sessionId).not.toBe(o.sessionId);
    expect(o.seeds.map((s) => s.href)).toEqual(["http://127.0.0.1:7301/"]);
  });
});
