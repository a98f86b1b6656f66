import { describe, expect, it } from "vitest";
import type { RaftConfig } from "./config.js";
import { RaftConfigError, resolveConfig } from "./config.js";
import type { NodeId } from "./types.js";

const base: RaftConfig = { id: "n1" as NodeId, voters: ["n3", "n1", "n2"] as NodeId[] };

describe("resolveConfig", () => {
  it("accepts a node that is a learner or not a member yet (it joins an existing group)", () => {
    expect(resolveConfig({ id: "n4" as NodeId, voters: base.voters, learners: ["n4" as NodeId] }).learners).toEqual(["n4"]);
    expect(resolveConfig({ id: "n4" as NodeId, voters: [] }).voters).toEqual([]);
  });

  it("fills defaults and sorts voters", () => {
    const config = resolveConfig(base);
    expect(config.voters).toEqual(["n1", "n2", "n3"]);
    expect(config.electionTimeoutTicks).toBe(10);
    expect(config.heartbeatIntervalTicks).toBe(1);
    expect(config.preVote).toBe(true);
    expect(config.checkQuorum).toBe(true);
    expect(config.testingBugs).toEqual({});
  });

  const invalid: ReadonlyArray<[string, Partial<RaftConfig>, RegExp]> = [
    ["empty id", { id: "" as NodeId }, /id must be/],
    ["duplicate voters", { voters: ["n1", "n1"] as NodeId[] }, /duplicates/],
    ["too many voters", { voters: Array.from({ length: 10 }, (_, i) => `n${i + 1}` as NodeId) }, /at most 9 voters/],
    ["too many learners", { learners: Array.from({ length: 10 }, (_, i) => `l${i + 1}` as NodeId) }, /at most 9 learners/],
    ["a voter that is also a learner", { learners: ["n2"] as NodeId[] }, /both a voter and a learner/],
    ["an empty learner id", { learners: [""] as NodeId[] }, /non-empty/],
    ["election timeout too small", { electionTimeoutTicks: 1 }, /electionTimeoutTicks/],
    ["fractional election timeout", { electionTimeoutTicks: 2.5 }, /electionTimeoutTicks/],
    ["heartbeat not below election", { electionTimeoutTicks: 5, heartbeatIntervalTicks: 5 }, /heartbeatIntervalTicks/],
    ["zero heartbeat", { heartbeatIntervalTicks: 0 }, /heartbeatIntervalTicks/],
    ["zero message size", { messageBytesMax: 0 }, /messageBytesMax/],
    ["negative entry size", { entryBytesMax: -1 }, /entryBytesMax/],
    ["zero inflight", { inflightMessagesMax: 0 }, /inflightMessagesMax/],
    ["negative uncommitted", { uncommittedEntriesBytesMax: -1 }, /uncommittedEntriesBytesMax/],
    ["zero committed per ready", { committedEntriesPerReadyBytesMax: 0 }, /committedEntriesPerReadyBytesMax/],
    ["zero read queue", { pendingReadIndexRequestsMax: 0 }, /pendingReadIndexRequestsMax/],
    ["zero message queue", { queuedMessagesMax: 0 }, /queuedMessagesMax/],
    ["NaN applied", { appliedIndex: Number.NaN as never }, /appliedIndex/],
  ];

  for (const [name, override, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => resolveConfig({ ...base, ...override })).toThrow(RaftConfigError);
      expect(() => resolveConfig({ ...base, ...override })).toThrow(message);
    });
  }
});
