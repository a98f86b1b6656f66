import { describe, expect, it } from "vitest";
import type { ConfState } from "../conf-state.js";
import type { Entry } from "../entry.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import type { ConfChange } from "./conf-change.js";
import { applyConfChange, decodeConfChange, encodeConfChange, validateConfChange } from "./conf-change.js";
import { ConfigHistory } from "./config-history.js";

const ids = (...names: string[]): NodeId[] => names as NodeId[];
const conf = (voters: string[], learners: string[] = []): ConfState => ({ voters: ids(...voters), learners: ids(...learners) });
const change = (kind: ConfChange["kind"], node: string): ConfChange => ({ kind, node: node as NodeId });
const configEntry = (index: number, c: ConfChange): Entry => ({ index: index as LogIndex, term: 1 as Term, kind: "config", data: encodeConfChange(c) });
const command = (index: number): Entry => ({ index: index as LogIndex, term: 1 as Term, kind: "command", data: new Uint8Array([1]) });

describe("membership changes", () => {
  it("round-trips every kind through the entry encoding", () => {
    for (const kind of ["addLearner", "promoteLearner", "addVoter", "removeNode"] as const) {
      expect(decodeConfChange(encodeConfChange(change(kind, "ノード-7")))).toEqual(change(kind, "ノード-7"));
    }
  });

  it.each<[string, number[]]>([
    ["an empty payload", []],
    ["an unknown kind", [9, 0x6e]],
    ["no node id", [1]],
    ["a node id that is not UTF-8", [1, 0xff]],
  ])("refuses to decode %s", (_name, bytes) => {
    expect(typeof decodeConfChange(new Uint8Array(bytes))).toBe("string");
  });

  it.each<[string, ConfState, ConfChange, RegExp | undefined]>([
    ["adds a learner", conf(["a", "b"]), change("addLearner", "c"), undefined],
    ["refuses a voter as learner", conf(["a", "b"]), change("addLearner", "b"), /already a voter/],
    ["promotes a learner", conf(["a"], ["c"]), change("promoteLearner", "c"), undefined],
    ["refuses to promote a non-learner", conf(["a"]), change("promoteLearner", "c"), /not a learner/],
    ["refuses a tenth voter", conf(["1", "2", "3", "4", "5", "6", "7", "8", "9"], ["x"]), change("promoteLearner", "x"), /9 voters/],
    ["removes a learner", conf(["a"], ["c"]), change("removeNode", "c"), undefined],
    ["refuses to remove a stranger", conf(["a"]), change("removeNode", "z"), /not a member/],
    ["refuses to remove the last voter", conf(["a"]), change("removeNode", "a"), /last voter/],
    ["refuses an empty id", conf(["a"]), change("addVoter", ""), /non-empty/],
  ])("%s", (_name, before, c, error) => {
    const reason = validateConfChange(before, c, 9);
    if (error === undefined) expect(reason).toBeUndefined();
    else expect(reason).toMatch(error);
  });

  it("applies changes totally and keeps the lists sorted and disjoint", () => {
    expect(applyConfChange(conf(["b", "a"], ["c"]), change("promoteLearner", "c"))).toEqual(conf(["a", "b", "c"]));
    expect(applyConfChange(conf(["a", "b"]), change("removeNode", "b"))).toEqual(conf(["a"]));
    // A replica applies whatever the log holds, even if it is a no-op for its view.
    expect(applyConfChange(conf(["a"], ["c"]), change("addLearner", "c"))).toEqual(conf(["a"], ["c"]));
  });
});

describe("ConfigHistory (thesis §4.1: the latest configuration in the log is in force)", () => {
  it("takes a change into force when it is appended, and undoes it when it is overwritten", () => {
    const history = new ConfigHistory(0 as LogIndex, conf(["a", "b", "c"]));
    history.onAppend([command(1), configEntry(2, change("addLearner", "d")), command(3)]);
    expect(history.latest()).toEqual(conf(["a", "b", "c"], ["d"]));
    expect([history.latestIndex(), history.countAbove(1 as LogIndex), history.countAbove(2 as LogIndex)]).toEqual([2, 1, 0]);
    history.onAppend([configEntry(4, change("promoteLearner", "d"))]);
    expect(history.at(3 as LogIndex)).toEqual(conf(["a", "b", "c"], ["d"]));
    expect(history.at(4 as LogIndex)).toEqual(conf(["a", "b", "c", "d"]));
    // A new leader overwrites index 2 onward: both changes are undone.
    history.onAppend([command(2)]);
    expect([history.latest(), history.latestIndex()]).toEqual([conf(["a", "b", "c"]), 0]);
  });

  it("restarts from a snapshot's membership and forgets what compaction covers", () => {
    const history = new ConfigHistory(0 as LogIndex, conf(["a"]));
    history.onAppend([configEntry(1, change("addVoter", "b")), configEntry(2, change("addLearner", "c"))]);
    history.compactTo(1 as LogIndex);
    expect(() => history.at(0 as LogIndex)).toThrow(/before index 1/);
    expect(history.at(1 as LogIndex)).toEqual(conf(["a", "b"]));
    history.restore(9 as LogIndex, conf(["x", "y"]));
    expect([history.latest(), history.latestIndex()]).toEqual([conf(["x", "y"]), 9]);
  });
});

describe("a leader whose log holds changes an earlier leader appended", () => {
  it("takes the lead even when a crash left two of them above its commit index", async () => {
    const { MemoryStorage } = await import("../memory-storage.js");
    const { RaftNode } = await import("../raft-node.js");
    const { SeededRandom } = await import("../random.js");
    const n1 = "n1" as NodeId;
    const storage = new MemoryStorage([n1]);
    // Both committed before the crash, but the commit index (not synced) was lost with it.
    storage.append([
      { index: 1 as LogIndex, term: 1 as Term, kind: "config", data: encodeConfChange({ kind: "addLearner", node: "n2" as NodeId }) },
      { index: 2 as LogIndex, term: 1 as Term, kind: "config", data: encodeConfChange({ kind: "removeNode", node: "n2" as NodeId }) },
    ]);
    storage.setHardState({ term: 1 as Term, vote: n1, commit: 0 as LogIndex });
    const node = new RaftNode({ config: { id: n1, voters: [n1], electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 }, storage, random: new SeededRandom(1) });
    // Campaign, then persist and advance until it settles: it votes for itself and leads alone.
    const settle = () => {
      for (let ready = node.ready(); ready; ready = node.ready()) {
        if (ready.entries.length > 0) storage.append(ready.entries);
        if (ready.hardState) storage.setHardState(ready.hardState);
        node.advance(ready);
      }
    };
    expect(() => {
      node.campaign();
      settle();
    }).not.toThrow();
    expect(node.role).toBe("leader");
  });
  // The host's wire check keeps a peer from making a follower hold two (apps/cache-node inbound-check.ts).
});
