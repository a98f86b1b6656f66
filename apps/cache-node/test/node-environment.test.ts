import { describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { MALLOC_DEFAULTS, nodeEnvironment } from "../../../tools/scripts/local-nodes.mjs";

describe("nodeEnvironment", () => {
  it("adds the malloc settings to the caller's environment", () => {
    const env = nodeEnvironment({ PATH: "/bin", DISTCACHE_PORT: "7301" });
    expect(env).toMatchObject({ PATH: "/bin", DISTCACHE_PORT: "7301", MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" });
    expect(Object.keys(MALLOC_DEFAULTS).every((k) => k in env)).toBe(true);
  });

  it("keeps a value the operator already set", () => {
    expect(nodeEnvironment({ MALLOC_ARENA_MAX: "8" }).MALLOC_ARENA_MAX).toBe("8");
  });
});
