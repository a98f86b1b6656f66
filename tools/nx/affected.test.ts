import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { affectedProjects, nx } from "./nx-cli.js";

/**
 * The workspace project (the root package.json: tools/, proto/, docs/, the root configs).
 * Its tests read every source file (the tidy check), so Nx selects its `test` after any
 * change; no package depends on it.
 */
const WORKSPACE = "distcache";

/** The architecture: each project and the workspace projects it imports, nothing else. */
const ARCHITECTURE: Record<string, string[]> = {
  "@distcache/ring": [],
  "@distcache/store": [],
  "@distcache/linearizability": [],
  "@distcache/proto": [],
  "@distcache/raft": ["@distcache/linearizability"],
  "@distcache/client": ["@distcache/proto", "@distcache/ring"],
  "@distcache/cli": ["@distcache/client"],
  "@distcache/cache-node": ["@distcache/client", "@distcache/proto", "@distcache/raft", "@distcache/ring", "@distcache/store"],
  [WORKSPACE]: [],
};

describe("nx affected -t test", () => {
  it("after a change to packages/ring alone, selects ring and its dependents only", () => {
    const selected = affectedProjects(["packages/ring/src/ring.ts", "packages/ring/README.md"], "test");
    expect(selected).toEqual(["@distcache/cache-node", "@distcache/cli", "@distcache/client", "@distcache/ring", WORKSPACE]);
  });

  it("after a change to packages/raft alone, selects raft and the server only", () => {
    expect(affectedProjects(["packages/raft/src/raft.ts"], "test")).toEqual(["@distcache/cache-node", "@distcache/raft", WORKSPACE]);
  });

  it("after a change to the server alone, selects the server only", () => {
    expect(affectedProjects(["apps/cache-node/package.json"], "test")).toEqual(["@distcache/cache-node", WORKSPACE]);
  });

  it("after a change to a .proto file, selects the generated package and its dependents", () => {
    const selected = affectedProjects(["proto/distcache/v1/cache.proto"], "test");
    expect(selected).toEqual(["@distcache/cache-node", "@distcache/cli", "@distcache/client", "@distcache/proto", WORKSPACE]);
  });

  it("after a change to the shared compiler options, selects every project", () => {
    expect(affectedProjects(["tsconfig.base.json"], "test")).toEqual(Object.keys(ARCHITECTURE).sort());
  });
});

describe("nx graph", () => {
  it("draws the architecture, offline", () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-graph-"));
    try {
      const file = join(dir, "graph.json");
      nx(["graph", `--file=${file}`]);
      const { graph } = JSON.parse(readFileSync(file, "utf8")) as { graph: { dependencies: Record<string, { target: string }[]> } };
      const drawn = Object.fromEntries(Object.entries(graph.dependencies).map(([project, edges]) => [project, edges.map((edge) => edge.target).sort()]));
      expect(drawn).toEqual(ARCHITECTURE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
