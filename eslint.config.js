// @ts-check
import tseslint from "typescript-eslint";

/** Tokens that make code impure: the store and the Raft core must replay identically (invariant 7 of docs/design.md). */
const impureGlobals = [
  "Date",
  "performance",
  "setTimeout",
  "setInterval",
  "setImmediate",
  "clearTimeout",
  "clearInterval",
  "queueMicrotask",
  "process",
  "require",
  "fetch",
].map((name) => ({ name, message: `${name} is not allowed in a pure package: take time, randomness and I/O through injected ports.` }));

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "packages/proto/src/gen/**", ".nx/**", ".data/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    files: ["packages/store/src/**/*.ts", "packages/raft/src/**/*.ts"],
    ignores: [
      "**/*.test.ts",
      "**/testing/**",
      "packages/raft/src/sim/cli.ts",
      "packages/raft/src/bench/**",
      "packages/raft/src/wal/**",
      "packages/raft/src/snapshot/**",
      "packages/store/src/hit-ratio/**",
    ],
    rules: {
      "no-restricted-globals": ["error", ...impureGlobals],
      "no-restricted-properties": [
        "error",
        { object: "Math", property: "random", message: "Math.random is not allowed in a pure package: use the injected seeded source." },
      ],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["node:*", "fs", "path", "os", "net", "http", "http2", "child_process", "crypto", "timers"],
              message: "I/O is not allowed in a pure package.",
            },
          ],
        },
      ],
    },
  },
);
