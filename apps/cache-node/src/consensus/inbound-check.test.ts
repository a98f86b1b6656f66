import {
  LEARNERS_MAX,
  MemoryStorage,
  RaftNode,
  SeededRandom,
  VOTERS_MAX,
  asLogIndex,
  asNodeId,
  asTerm,
  encodeConfChange,
  type AppendMessage,
  type ConfChange,
  type Entry,
  type SnapshotMessage,
} from "@distcache/raft";
import { describe, expect, it } from "vitest";
import { messageProblem, stateProblem } from "./inbound-check.js";

const n1 = asNodeId("n1");
const n2 = asNodeId("n2");
const n3 = asNodeId("n3");
const n4 = asNodeId("n4");
const LONG = Array.from({ length: 9 }, (_, i) => `${"x".repeat(59)}-${i}`);
const NODES = new Set(["n1", "n2", "n3", "n4", ...Array.from({ length: 10 }, (_, i) => `l${i}`), ...Array.from({ length: 10 }, (_, i) => `v${i}`), ...LONG]);

/** n2's replica of a group of n1, n2, n3 with an empty log: every append below starts after index 0. */
function follower(): RaftNode {
  return new RaftNode({
    config: { id: n2, voters: [n1, n2, n3], electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 },
    storage: new MemoryStorage([n1, n2, n3]),
    random: new SeededRandom(1),
  });
}

const change = (kind: ConfChange["kind"], node: string): ConfChange => ({ kind, node: asNodeId(node) });
const config = (index: number, c: ConfChange, term = 1): Entry => ({ index: asLogIndex(index), term: asTerm(term), kind: "config", data: encodeConfChange(c) });
const command = (index: number, term = 1): Entry => ({ index: asLogIndex(index), term: asTerm(term), kind: "command", data: new Uint8Array([1]) });

function append(entries: Entry[], { index = 0, logTerm = 0, commit = 0, term = 1 } = {}): AppendMessage {
  return {
    type: "app",
    from: n1,
    to: n2,
    term: asTerm(term),
    index: asLogIndex(index),
    logTerm: asTerm(logTerm),
    commit: asLogIndex(commit),
    entries,
  };
}

function snapshot(voters: string[], learners: string[] = []): SnapshotMessage {
  return {
    type: "snapshot",
    from: n1,
    to: n2,
    term: asTerm(3),
    snapshot: { index: asLogIndex(10), term: asTerm(2), confState: { voters: voters.map(asNodeId), learners: learners.map(asNodeId) } },
  };
}

/** Both checks, as the driver runs them: the message alone, then against the replica's log. */
const problem = (m: AppendMessage, node = follower()) => messageProblem(m, NODES) ?? stateProblem(m, node, NODES);

describe("membership on the wire", () => {
  it("takes messages from any node of the cluster, and refuses others", () => {
    const heartbeatAnswer = { type: "heartbeatResp", from: n4, to: n2, term: asTerm(1), readRound: 0 } as const;
    expect(messageProblem(heartbeatAnswer, NODES)).toBeUndefined();
    expect(messageProblem({ ...heartbeatAnswer, from: asNodeId("mallory") }, NODES)).toMatch(/not a node of the cluster/);
    const transfer = { type: "transferLeader", from: n1, to: n2, term: asTerm(0), transferee: n4 } as const;
    expect(messageProblem(transfer, NODES)).toBeUndefined();
    expect(messageProblem({ ...transfer, transferee: asNodeId("mallory") }, NODES)).toMatch(/not a node of the cluster/);
  });

  it("refuses membership change entries that do not decode", () => {
    const bad = (data: number[]): Entry => ({ index: asLogIndex(1), term: asTerm(1), kind: "config", data: new Uint8Array(data) });
    expect(messageProblem(append([bad([1])]), NODES)).toMatch(/does not decode/);
    expect(messageProblem(append([bad([9, 0x6e, 0x34])]), NODES)).toMatch(/does not decode/);
    expect(messageProblem(append([bad([1, 0xff, 0xfe])]), NODES)).toMatch(/does not decode/);
  });

  it("takes the changes a leader appends, one above the commit index at a time", () => {
    expect(problem(append([config(1, change("addLearner", "n4"))]))).toBeUndefined();
    // The learner's addition is committed (commit 1) before its promotion is appended.
    expect(problem(append([config(1, change("addLearner", "n4")), config(2, change("promoteLearner", "n4"))], { commit: 1 }))).toBeUndefined();
    expect(problem(append([config(1, change("addLearner", "n4")), command(2), config(3, change("removeNode", "n3"))], { commit: 2 }))).toBeUndefined();
  });

  it("refuses two changes above the commit index", () => {
    expect(problem(append([config(1, change("addLearner", "n4")), config(2, change("promoteLearner", "n4"))]))).toMatch(
      /second membership change above the commit index/,
    );
    // One already in the log, uncommitted, and one more in the append.
    const node = follower();
    node.step(append([config(1, change("addLearner", "n4"))]));
    expect(problem(append([config(2, change("promoteLearner", "n4"))], { index: 1, logTerm: 1 }), node)).toMatch(/second membership change/);
    expect(problem(append([config(2, change("promoteLearner", "n4"))], { index: 1, logTerm: 1, commit: 1 }), node)).toBeUndefined();
  });

  it("refuses changes no leader appends, judged against the replica's own configuration", () => {
    expect(problem(append([config(1, change("removeNode", "v9"))]))).toMatch(/v9 is not a member/);
    expect(problem(append([config(1, change("promoteLearner", "n4"))]))).toMatch(/n4 is not a learner/);
    expect(problem(append([config(1, change("addVoter", "n1"))]))).toMatch(/already a voter/);
    const toLast = [config(1, change("removeNode", "n1")), config(2, change("removeNode", "n3")), config(3, change("removeNode", "n2"))];
    expect(problem(append(toLast, { commit: 2 }))).toMatch(/the last voter cannot be removed/);
    const learners = Array.from({ length: LEARNERS_MAX + 1 }, (_, i) => config(i + 1, change("addLearner", `l${i}`)));
    expect(problem(append(learners, { commit: LEARNERS_MAX }))).toMatch(new RegExp(`already has ${LEARNERS_MAX} learners`));
    const node = follower();
    node.step(append([config(1, change("addLearner", "n4"))]));
    expect(problem(append([config(2, change("addLearner", "n4"))], { index: 1, logTerm: 1, commit: 1 }), node)).toMatch(/already a learner/);
  });

  it("refuses a change naming a node outside the cluster, or a membership past the log's bound", () => {
    expect(problem(append([config(1, change("addLearner", "mallory"))]))).toMatch(/mallory, not a node of the cluster/);
    // Committed, it is history: a node that left the cluster, forgotten since, as a new replica's log replays it.
    const history = [config(1, change("addLearner", "gone")), config(2, change("promoteLearner", "gone")), config(3, change("removeNode", "gone"))];
    expect(problem(append(history, { commit: 3 }))).toBeUndefined();
    expect(problem(append(history, { commit: 2 }))).toBeUndefined();
    expect(problem(append(history, { commit: 1 }))).toMatch(/entry 2: a membership change for gone, not a node of the cluster/);
    // Nine learners with ids of 61 bytes: legal ids, but more than the write-ahead log stores per group.
    const long = LONG.map((id, i) => config(i + 1, change("addLearner", id)));
    expect(problem(append(long, { commit: LONG.length }))).toMatch(/B encoded, above 512 B/);
  });

  it("leaves an append the core will not take unchecked", () => {
    // Its previous entry is not in this log: the core refuses it and appends nothing.
    expect(problem(append([config(6, change("removeNode", "n9"))], { index: 5, logTerm: 1 }))).toBeUndefined();
  });

  it("takes snapshots with any well-formed membership, and refuses malformed ones", () => {
    expect(messageProblem(snapshot(["n1", "n3", "n4"], ["n2"]), NODES)).toBeUndefined();
    expect(messageProblem(snapshot(["n1", "n1", "n2"]), NODES)).toMatch(/duplicates/);
    expect(messageProblem(snapshot(["n1", "n2"], ["n2"]), NODES)).toMatch(/both a voter and a learner/);
    expect(messageProblem(snapshot([]), NODES)).toMatch(/1 to \d+ voters/);
    const many = Array.from({ length: VOTERS_MAX + 1 }, (_, i) => `v${i}`);
    expect(messageProblem(snapshot(many), NODES)).toMatch(/1 to \d+ voters/);
    const learners = Array.from({ length: LEARNERS_MAX + 1 }, (_, i) => `l${i}`);
    expect(messageProblem(snapshot(["n1"], learners), NODES)).toMatch(/learners/);
    // Committed state: it may name a node forgotten since.
    expect(messageProblem(snapshot(["n1", "gone"]), NODES)).toBeUndefined();
    expect(messageProblem(snapshot(LONG), NODES)).toMatch(/above 512 B encoded/);
  });
});
