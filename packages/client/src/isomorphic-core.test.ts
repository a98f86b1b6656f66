import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The core must run in browsers: only node.ts (and tests) may import Node-only modules.
const NODE_ONLY = /from\s+["'](node:[^"']+|@connectrpc\/connect-node)["']/;
const IMPORT = /(?:import|export)\s*(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s+)?\(?\s*["']([^"']+)["']/g;
const dir = fileURLToPath(new URL(".", import.meta.url));
const packagesDir = join(dir, "..", "..");

/** Where a specifier leads inside the workspace (relative files and @distcache/* packages, from source), if anywhere. */
function resolveInWorkspace(from: string, spec: string): string | undefined {
  if (spec.startsWith(".")) return join(dirname(from), spec.replace(/\.js$/, ".ts"));
  const workspace = /^@distcache\/([a-z-]+)(?:\/([a-z-]+))?$/.exec(spec);
  if (!workspace) return undefined;
  const file = join(packagesDir, workspace[1]!, "src", `${workspace[2] ?? "index"}.ts`);
  return existsSync(file) ? file : undefined;
}

/** Every module reachable from entry through imports, with the import chain that reaches each outside one. */
function reachable(entry: string): Map<string, string[]> {
  const outside = new Map<string, string[]>();
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const spec = match[1]!;
      const next = resolveInWorkspace(file, spec);
      if (next) walk(next, [...chain, relative(packagesDir, next)]);
      else if (!outside.has(spec)) outside.set(spec, chain);
    }
  };
  walk(entry, [relative(packagesDir, entry)]);
  return outside;
}

describe("isomorphic core", () => {
  it("imports no Node-only module outside node.ts", () => {
    const offenders = readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "node.ts" && !f.startsWith("e2e") && !f.startsWith("testing"))
      .filter((f) => NODE_ONLY.test(readFileSync(`${dir}/${f}`, "utf8")));
    expect(offenders).toEqual([]);
  });

  it("pulls no Node module or Node transport into the browser entry or the core, through any package", () => {
    for (const entry of ["web.ts", "index.ts"]) {
      const nodeOnly = [...reachable(join(dir, entry))].filter(([spec]) => spec.startsWith("node:") || spec === "@connectrpc/connect-node");
      expect(nodeOnly, entry).toEqual([]);
    }
  });

  it("finds a Node transport reached through the Node entry, so the walk follows imports", () => {
    const outside = reachable(join(dir, "node.ts"));
    expect(outside.has("@connectrpc/connect-node")).toBe(true);
    expect(outside.get("@connectrpc/connect-web")).toBeUndefined();
  });
});
