import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatToken, formatWatchEvent, parseToken } from "./watch-command.js";

describe("watch tokens and lines", () => {
  it("reads back every token it prints", () => {
    const position = fc.record({
      shard: fc.integer({ min: 0, max: 4095 }),
      index: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
      ordinal: fc.integer({ min: 0, max: 0xffffffff }),
    });
    fc.assert(
      fc.property(fc.array(position, { minLength: 1, maxLength: 20 }), (token) => {
        expect(parseToken(formatToken(token))).toEqual({ ok: true, value: token });
      }),
    );
  });

  it.each(["", "1:2", "1:2:3:4", "a:1:1", "1:1:4294967296", "1:1:1,"])("refuses %j", (text) => {
    expect(parseToken(text).ok).toBe(false);
  });

  it("prints a put with its version and value, and other kinds with the key only", () => {
    const base = { position: { shard: 1, index: 5n, ordinal: 0 }, resume: [{ shard: 1, index: 5n, ordinal: 0 }] };
    expect(formatWatchEvent({ ...base, type: "put", key: "k", version: 7n, text: "v", value: new TextEncoder().encode("v") }, false)).toBe(
      "PUT\tk\tversion=7\tv\n",
    );
    expect(formatWatchEvent({ ...base, type: "expire", key: "k", version: 0n }, false)).toBe("EXPIRE\tk\n");
    expect(JSON.parse(formatWatchEvent({ ...base, type: "delete", key: "k", version: 0n }, true))).toEqual({
      type: "delete",
      key: "k",
      version: "0",
      position: { shard: 1, index: "5", ordinal: 0 },
      resume: "1:5:0",
    });
  });
});
