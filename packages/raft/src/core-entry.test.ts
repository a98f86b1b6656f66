import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The package's entry points (package.json "exports"): the core, ".", must stay pure, so
 * nothing reachable from src/index.ts through relative imports may import a Node built-in;
 * the write-ahead log ("./wal") and the snapshot files ("./snapshot") do, and the core never reaches them.
 */
const SRC_DIR = fileURLToPath(new URL(".", import.meta.url));
const PACKAGE_DIR = dirname(SRC_DIR);
const BUILTINS = new Set(builtinModules);

interface ModuleGraph {
  /** The source files reached, relative to src/, "/"-separated. */
  readonly files: readonly string[];
  /** Each non-relative specifier imported, with the file that imports it. */
  readonly packageImports: readonly { readonly from: string; readonly specifier: string }[];
}

/** The source a relative specifier names: "./x.js" is ./x.ts, as TypeScript resolves it under NodeNext. */
function resolveRelative(fromFile: string, specifier: string): string {
  const source = join(dirname(fromFile), specifier).replace(/\.js$/, ".ts");
  if (!specifier.endsWith(".js") || !existsSync(source)) throw new Error(`${relative(SRC_DIR, fromFile)}: cannot resolve ${specifier}`);
  return source;
}

/** Every file reachable from entry by static, type-only, re-export and dynamic imports. */
function moduleGraph(entry: string): ModuleGraph {
  const seen = new Set<string>();
  const packageImports: { from: string; specifier: string }[] = [];
  const pending = [join(SRC_DIR, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const from = relative(SRC_DIR, file).split("\\").join("/");
    for (const { fileName: specifier } of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
      if (specifier.startsWith(".")) pending.push(resolveRelative(file, specifier));
      else packageImports.push({ from, specifier });
    }
  }
  return { files: [...seen].map((file) => relative(SRC_DIR, file).split("\\").join("/")).sort(), packageImports };
}

const isBuiltin = (specifier: string): boolean => specifier.startsWith("node:") || BUILTINS.has(specifier.split("/")[0]!);

describe("entry points", () => {
  it("the core entry reaches no Node built-in, and neither the write-ahead log nor the snapshot files", () => {
    const core = moduleGraph("index.ts");
    expect(core.files).toContain("raft-node.ts");
    expect(core.packageImports.filter(({ specifier }) => isBuiltin(specifier))).toEqual([]);
    expect(core.files.filter((file) => file.startsWith("wal/") || file.startsWith("snapshot/"))).toEqual([]);
  });

  it("finds the built-ins the write-ahead log entry reaches, so the check above can fail", () => {
    const wal = moduleGraph("wal/index.ts");
    const builtins = wal.packageImports.filter(({ specifier }) => isBuiltin(specifier));
    expect(builtins).toContainEqual({ from: "wal/node-wal-fs.ts", specifier: "node:fs/promises" });
  });

  it("maps every export of package.json to the built form of a source entry", () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as {
      exports: Record<string, { types: string; default: string }>;
    };
    expect(Object.keys(manifest.exports)).toEqual([".", "./wal", "./snapshot", "./testing"]);
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      const source = target.default.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts");
      expect(existsSync(join(SRC_DIR, source)), `${subpath}: src/${source}`).toBe(true);
      expect(target.types, subpath).toBe(target.default.replace(/\.js$/, ".d.ts"));
    }
  });
});
