import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The core and the simulator must be deterministic and free of I/O (docs/design.md,
 * invariant 7): no clock, no ambient randomness, no timers, no process or Node
 * modules. Only the two command-line hosts below may touch the outside world.
 */
const SRC_DIR = fileURLToPath(new URL(".", import.meta.url));
const HOST_FILES = new Set(["sim/cli.ts", "bench/throughput.ts"]);

const FORBIDDEN: ReadonlyArray<[string, RegExp]> = [
  ["Date", /\bDate\b/],
  ["Math.random", /\bMath\s*\.\s*random\b/],
  ["setTimeout", /\bsetTimeout\b/],
  ["setInterval", /\bsetInterval\b/],
  ["setImmediate", /\bsetImmediate\b/],
  ["queueMicrotask", /\bqueueMicrotask\b/],
  ["process", /\bprocess\s*[.[]/],
  ["globalThis", /\bglobalThis\b/],
  ["performance", /\bperformance\b/],
  ["crypto", /\bcrypto\b/],
  ["require(", /\brequire\s*\(/],
  ["node: import", /["']node:/],
  ["Node built-in import", /from\s+["'](fs|os|net|http|https|child_process|worker_threads|timers|path|url)["']/],
];

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".spec.ts")) files.push(path);
  }
  return files;
}

/** Comments may mention forbidden names when explaining why they are absent. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("purity", () => {
  const files = sourceFiles(SRC_DIR).map((path) => relative(SRC_DIR, path).split("\\").join("/"));

  it("scans the core and the simulator", () => {
    expect(files).toContain("raft.ts");
    expect(files.some((file) => file.startsWith("sim/"))).toBe(true);
  });

  it("finds no clock, randomness, timers, process or I/O outside the hosts", () => {
    const violations: string[] = [];
    for (const file of files) {
      // wal/ and snapshot/ are the package's storage adapters: they do I/O by design, and the core never imports them.
      if (HOST_FILES.has(file) || file.startsWith("wal/") || file.startsWith("snapshot/")) continue;
      const code = stripComments(readFileSync(join(SRC_DIR, file), "utf8"));
      for (const [name, pattern] of FORBIDDEN) if (pattern.test(code)) violations.push(`${file}: ${name}`);
    }
    expect(violations).toEqual([]);
  });

  it("detects a planted violation", () => {
    const code = stripComments("const t = Date.now(); // Math.random is mentioned only here");
    expect(FORBIDDEN.filter(([, pattern]) => pattern.test(code)).map(([name]) => name)).toEqual(["Date"]);
  });
});
