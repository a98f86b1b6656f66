import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The core must run in browsers: only node.ts (and tests) may import Node-only modules.
const NODE_ONLY = /from\s+["'](node:[^"']+|@connectrpc\/connect-node)["']/;
const dir = fileURLToPath(new URL(".", import.meta.url));

describe("isomorphic core", () => {
  it("imports no Node-only module outside node.ts", () => {
    const offenders = readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "node.ts" && !f.startsWith("e2e"))
      .filter((f) => NODE_ONLY.test(readFileSync(`${dir}/${f}`, "utf8")));
    expect(offenders).toEqual([]);
  });
});
