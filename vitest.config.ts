import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import workspace packages from source, so they never run against stale builds.
const source = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@distcache\/proto\/raft$/, replacement: source("./packages/proto/src/raft.ts") },
      { find: /^@distcache\/proto\/limits$/, replacement: source("./packages/proto/src/limits.ts") },
      { find: /^@distcache\/raft\/(wal|snapshot|testing)$/, replacement: source("./packages/raft/src/$1/index.ts") },
      { find: /^@distcache\/(ring|store|raft|linearizability|proto|client|cli)$/, replacement: source("./packages/$1/src/index.ts") },
    ],
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "apps/*/test/*.test.ts", "tools/**/*.test.ts"],
          exclude: ["packages/*/src/e2e/**", "tools/chaos/test/**", "tools/bench/suite/e2e/**"],
        },
      },
      {
        // Multi-process suites start real nodes on free ports: npm test runs this project on
        // its own, after the unit project, one file at a time (--no-file-parallelism).
        extends: true,
        test: {
          name: "cluster",
          include: [
            "apps/*/test/cluster/**/*.test.ts",
            "packages/*/src/e2e/**/*.test.ts",
            "tools/chaos/test/**/*.test.ts",
            "tools/bench/suite/e2e/**/*.test.ts",
          ],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
