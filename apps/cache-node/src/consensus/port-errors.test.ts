import { describe, expect, it } from "vitest";
import { droppedError, NotLeaderError, OverloadedError } from "./port-errors.js";

describe("port errors", () => {
  it("a not-leader refusal names the shard and leader, carries no stack frames, and leaves the stack limit as it was", () => {
    const limit = Error.stackTraceLimit;
    const err = new NotLeaderError(3, "n2", "not-leader");
    expect(err.message).toBe("node does not lead shard 3 (not-leader); leader is n2");
    expect(err.stack ?? "").not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error("a fault").stack).toMatch(/\n\s+at /);
  });

  it("a dropped proposal becomes the error its reason names", () => {
    expect(droppedError(1, { reason: "not-leader", leaderHint: undefined })).toMatchObject({ name: "NotLeaderError", leaderId: undefined });
    expect(droppedError(1, { reason: "uncommitted-limit", leaderHint: "n1" })).toBeInstanceOf(OverloadedError);
  });
});
