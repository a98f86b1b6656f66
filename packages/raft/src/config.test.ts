import { describe, expect, it } from "vitest";
import type { RaftConfig } from "./config.js";
import { RaftConfigError, resolveConfig } from "./config.js";
import type { NodeId } from "./types.js";

const base: RaftConfig = { id: "n1" as NodeId, voters: ["n3", "n1", "n2"] as NodeId[] };

describe("resolveConfig", () => {
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
    ["id not a voter", { id: "n9" as NodeId }, /not among the voters/],
    ["no voters", { voters: [] }, /1 to 9 voters/],
    ["duplicate voters", { voters: ["n1", "n1"] as NodeId[] }, /duplicates/],
    ["too many voters", { voters: Array.from({ length: 10 }, (_, i) => `n${i + 1}` as NodeId) }, /1 to 9 voters/],
    ["election timeout too small", { electionTimeoutTicks: 1 }, /electionTimeoutTicks/],
    ["fractional election timeout", { electionTimeoutTicks: 2.5 }, /electionTimeoutTicks/],
    ["heartbeat not below election", { electionTimeoutTicks: 5, heartbeatIntervalTicks: 5 }, /heartbeatIntervalTicks/],
    ["zero heartbeat", { heartbeatIntervalTicks: 0 }, /heartbeatIntervalTicks/],
    ["zero message size", { maxSizePerMsgBytes: 0 }, /maxSizePerMsgBytes/],
    ["negative entry size", { maxEntryBytes: -1 }, /maxEntryBytes/],
    ["zero inflight", { maxInflightMsgs: 0 }, /maxInflightMsgs/],
    ["negative uncommitted", { maxUncommittedEntriesBytes: -1 }, /maxUncommittedEntriesBytes/],
    ["zero committed per ready", { maxCommittedEntriesPerReadyBytes: 0 }, /maxCommittedEntriesPerReadyBytes/],
    ["zero read queue", { maxPendingReadIndexRequests: 0 }, /maxPendingReadIndexRequests/],
    ["zero message queue", { maxQueuedMessages: 0 }, /maxQueuedMessages/],
    ["NaN applied", { appliedIndex: Number.NaN as never }, /appliedIndex/],
  ];

  for (const [name, override, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => resolveConfig({ ...base, ...override })).toThrow(RaftConfigError);
      expect(() => resolveConfig({ ...base, ...override })).toThrow(message);
    });
  }
});
