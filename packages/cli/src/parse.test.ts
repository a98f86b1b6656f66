import { describe, expect, it } from "vitest";
import { parseDelta, parseEndpoints, parseMilliseconds, parseVersion, resolveEndpoints, type Parsed } from "./parse.js";

const value = <T>(p: Parsed<T>): T | "error" => (p.ok ? p.value : "error");

describe("parsers return a value or an error, never throw", () => {
  it.each([
    ["http://127.0.0.1:7301", ["http://127.0.0.1:7301"]],
    ["http://a:1, https://b:2 ,", ["http://a:1", "https://b:2"]],
    ["", "error"],
    [" , ", "error"],
    ["127.0.0.1:7301", "error"],
    ["ftp://a:1", "error"],
    ["http://a:1,nonsense", "error"],
  ])("endpoints %j", (text, expected) => {
    expect(value(parseEndpoints(text))).toEqual(expected);
  });

  it.each([
    ["0", 0, 0],
    ["60000", 60000, 0],
    [" 15 ", 15, 0],
    ["-1", "error", 0],
    ["1.5", "error", 0],
    ["1e3", "error", 0],
    ["abc", "error", 0],
    ["0", "error", 1],
    ["600001", "error", 1],
  ])("milliseconds %j", (text, expected, min) => {
    expect(value(parseMilliseconds(text, min, 600_000))).toEqual(expected);
  });

  it.each([
    ["0", 0n],
    ["18446744073709551615", 2n ** 64n - 1n],
    ["18446744073709551616", "error"],
    ["-1", "error"],
    ["v3", "error"],
  ])("version %j", (text, expected) => {
    expect(value(parseVersion(text))).toEqual(expected);
  });

  it.each([
    ["1", 1n],
    ["-5", -5n],
    ["+7", 7n],
    ["9223372036854775807", 2n ** 63n - 1n],
    ["-9223372036854775808", -(2n ** 63n)],
    ["9223372036854775808", "error"],
    ["0x10", "error"],
    ["", "error"],
  ])("delta %j", (text, expected) => {
    expect(value(parseDelta(text))).toEqual(expected);
  });
});

describe("resolveEndpoints", () => {
  it("prefers the flag, then DISTCACHE_ENDPOINTS, then the local default", () => {
    const env = { DISTCACHE_ENDPOINTS: "http://e:1,http://e:2" };
    expect(value(resolveEndpoints(["http://f:1"], env))).toEqual(["http://f:1"]);
    expect(value(resolveEndpoints(undefined, env))).toEqual(["http://e:1", "http://e:2"]);
    expect(value(resolveEndpoints(undefined, {}))).toEqual(["http://127.0.0.1:7301"]);
    expect(value(resolveEndpoints(undefined, { DISTCACHE_ENDPOINTS: "  " }))).toEqual(["http://127.0.0.1:7301"]);
    const bad = resolveEndpoints(undefined, { DISTCACHE_ENDPOINTS: "nope" });
    expect(bad.ok ? "" : bad.error).toMatch(/^DISTCACHE_ENDPOINTS: /);
  });
});
