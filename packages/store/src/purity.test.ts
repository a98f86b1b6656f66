import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Invariant 7: the store is part of a replicated state machine, so its runtime code
// must never reach for ambient time, randomness, scheduling, the process or Node I/O.
const FORBIDDEN: ReadonlyArray<[string, RegExp]> = [
  ["Date", /\bDate\b/],
  ["Math.random", /\bMath\s*\.\s*random\b/],
  ["performance", /\bperformance\b/],
  ["setTimeout", /\bsetTimeout\b/],
  ["setInterval", /\bsetInterval\b/],
  ["setImmediate", /\bsetImmediate\b/],
  ["queueMicrotask", /\bqueueMicrotask\b/],
  ["process", /\bprocess\b/],
  ["node: import", /["']node:/],
  ["require", /\brequire\s*\(/],
  ["globalThis", /\bglobalThis\b/],
  ["crypto", /\bcrypto\b/],
];

const sourceRoot = fileURLToPath(new URL(".", import.meta.url));

/** Runtime sources: everything the build compiles (test files and testing/ excluded). */
function runtimeSources(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return name === "testing" ? [] : runtimeSources(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".spec.ts") ? [path] : [];
  });
}

/** Strips comments so prose may name what the code must not use. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("purity of packages/store/src", () => {
  const files = runtimeSources(sourceRoot);

  it("finds the runtime sources", () => {
    expect(files.map((file) => relative(sourceRoot, file))).toEqual(expect.arrayContaining(["store.ts", "prng.ts", "index.ts"]));
  });

  it.each(FORBIDDEN)("no runtime source uses %s", (_name, pattern) => {
    const offenders = files.filter((file) => pattern.test(withoutComments(readFileSync(file, "utf8"))));
    expect(offenders.map((file) => relative(sourceRoot, file))).toEqual([]);
  });

  it("the scanner catches a violation", () => {
    const [, pattern] = FORBIDDEN[0] as [string, RegExp];
    expect(pattern.test(withoutComments("const nowMs = Date.now(); // fine"))).toBe(true);
    expect(/\bprocess\b/.test(withoutComments("// process is mentioned in prose only"))).toBe(false);
  });
});
