import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_META_STATE, META_NODES_MAX, applyMeta, type MetaCommand, type MetaState } from "./meta-state.js";

const node = (id: string) => ({ id, clientAddress: `127.0.0.1:7${id.slice(1)}`, peerAddress: `127.0.0.1:8${id.slice(1)}` });

function bootstrapped(): MetaState {
  const { state, result } = applyMeta(EMPTY_META_STATE, {
    kind: "bootstrap",
    nodes: [node("n1"), node("n2"), node("n3")],
    shardCount: 4,
    pointsPerShard: 2048,
    placement: [
      ["n1", "n2", "n3"],
      ["n2", "n3", "n1"],
      ["n3", "n1", "n2"],
      ["n1", "n2", "n3"],
    ],
    metaVoters: ["n1", "n2", "n3"],
  });
  expect(result).toEqual({ ok: true, epoch: 1 });
  return state;
}

/** Applies commands in order, expecting each to be taken; returns the last state. */
function run(state: MetaState, ...commands: MetaCommand[]): MetaState {
  for (const command of commands) {
    const next = applyMeta(state, command);
    expect(next.result, JSON.stringify(command)).toMatchObject({ ok: true });
    state = next.state;
  }
  return state;
}

const refusal = (state: MetaState, command: MetaCommand) => {
  const { state: after, result } = applyMeta(state, command);
  expect(after).toBe(state);
  return result.ok ? undefined : result.refusal;
};

describe("the meta state", () => {
  it("grows its epoch with each change and names the nodes, tombstones and placement", () => {
    let state = bootstrapped();
    state = run(state, { kind: "addNode", ...node("n4") }, { kind: "place", shard: 0, replicas: ["n4", "n2", "n3"] });
    expect(state.epoch).toBe(3);
    expect(state.placement[0]).toEqual(["n2", "n3", "n4"]);
    state = run(state, { kind: "removeNode", id: "n1" });
    expect(state.nodes.find((n) => n.id === "n1")?.leaving).toBe(true);
    expect(refusal(state, { kind: "forgetNode", id: "n1" })).toEqual({ code: "failed_precondition", message: "node n1 is still placed on shards 1,2,3" });
    state = run(
      state,
      { kind: "place", shard: 1, replicas: ["n2", "n3", "n4"] },
      { kind: "place", shard: 2, replicas: ["n2", "n3", "n4"] },
      { kind: "place", shard: 3, replicas: ["n2", "n3", "n4"] },
      { kind: "forgetNode", id: "n1" },
    );
    expect(state.nodes.map((n) => n.id)).toEqual(["n2", "n3", "n4"]);
    expect(state.removed).toEqual(["n1"]);
    expect(state.epoch).toBe(8);
    // The voters each group was bootstrapped with stay as bootstrap gave them, in its order.
    expect(state.bootstrapVoters).toEqual(bootstrapped().bootstrapVoters);
    expect(state.bootstrapVoters[1]).toEqual(["n2", "n3", "n1"]);
    expect(state.metaBootstrapVoters).toEqual(["n1", "n2", "n3"]);
  });

  it("refuses what must not happen, with a code and a message, changing nothing", () => {
    const state = bootstrapped();
    expect(refusal(EMPTY_META_STATE, { kind: "addNode", ...node("n4") })?.code).toBe("failed_precondition");
    expect(
      refusal(state, { kind: "bootstrap", nodes: [node("n9")], shardCount: 1, pointsPerShard: 1, placement: [["n9"]], metaVoters: ["n9"] })?.message,
    ).toMatch(/bootstrapped already/);
    expect(refusal(state, { kind: "addNode", ...node("n2") })).toEqual({ code: "already_exists", message: "node n2 is a member already" });
    expect(refusal(state, { kind: "addNode", ...node("n4"), id: "bad id" })?.code).toBe("invalid_argument");
    expect(refusal(state, { kind: "addNode", ...node("n4"), peerAddress: "" })?.code).toBe("invalid_argument");
    expect(refusal(state, { kind: "removeNode", id: "n9" })?.code).toBe("not_found");
    expect(refusal(state, { kind: "forgetNode", id: "n2" })?.message).toMatch(/not leaving/);
    expect(refusal(state, { kind: "place", shard: 4, replicas: ["n1"] })?.message).toBe("no shard 4 (4 shards)");
    expect(refusal(state, { kind: "place", shard: 0, replicas: ["n1", "n1"] })?.message).toMatch(/named twice/);
    expect(refusal(state, { kind: "place", shard: 0, replicas: ["n1", "n9"] })?.message).toMatch(/n9 is not a member/);
    expect(refusal(state, { kind: "place", shard: 0, replicas: [] })?.code).toBe("invalid_argument");
    const leaving = run(state, { kind: "removeNode", id: "n3" });
    expect(refusal(leaving, { kind: "place", shard: 0, replicas: ["n1", "n3"] })?.message).toMatch(/n3 is leaving/);
    const alone = run(leaving, { kind: "removeNode", id: "n2" });
    expect(refusal(alone, { kind: "removeNode", id: "n1" })?.message).toMatch(/last member/);
  });

  it("never reuses a removed id", () => {
    let state = bootstrapped();
    state = run(state, { kind: "addNode", ...node("n4") }, { kind: "removeNode", id: "n4" }, { kind: "forgetNode", id: "n4" });
    expect(refusal(state, { kind: "addNode", ...node("n4") })).toEqual({
      code: "failed_precondition",
      message: "node id n4 was removed from the cluster and is never reused: add the node under a new id",
    });
  });

  it("bounds the nodes it holds", () => {
    let state = bootstrapped();
    for (let i = 4; i <= META_NODES_MAX; i++) state = run(state, { kind: "addNode", ...node(`n${i}`) });
    expect(refusal(state, { kind: "addNode", ...node("x1") })?.code).toBe("resource_exhausted");
  });

  it("adds or removes a node and replaces the placement in one step, checked against the nodes after the change", () => {
    const four = [
      ["n1", "n2", "n4"],
      ["n2", "n3", "n1"],
      ["n3", "n4", "n2"],
      ["n1", "n4", "n3"],
    ];
    let state = run(bootstrapped(), { kind: "addNode", ...node("n4"), placement: four });
    expect(state.epoch).toBe(2);
    expect(state.placement[0]).toEqual(["n1", "n2", "n4"]);
    const withoutN4 = four.map((r) => r.filter((id) => id !== "n4").concat(r.includes("n4") ? ["n3"] : []));
    expect(refusal(state, { kind: "removeNode", id: "n1", placement: four })?.message).toBe("shard 0: n1 is leaving");
    expect(refusal(state, { kind: "addNode", ...node("n5"), placement: [["n5"]] })?.message).toBe("a placement of 4 shards");
    expect(refusal(state, { kind: "addNode", ...node("n5"), placement: four.map(() => ["n6"]) })?.message).toBe("shard 0: n6 is not a member");
    state = run(state, { kind: "removeNode", id: "n4", placement: withoutN4.map((r) => [...new Set(r)]) });
    expect(state.placement.some((r) => r.includes("n4"))).toBe(false);
    state = run(state, { kind: "forgetNode", id: "n4" });
    expect(state.removed).toEqual(["n4"]);
  });

  const ids = fc.constantFrom("n1", "n2", "n3", "n4", "n5", "bad id", "");
  const command: fc.Arbitrary<MetaCommand> = fc.oneof(
    fc.record({ kind: fc.constant("addNode" as const), id: ids, clientAddress: fc.constantFrom("a:1", ""), peerAddress: fc.constantFrom("b:1", "") }),
    fc.record({ kind: fc.constant("removeNode" as const), id: ids }),
    fc.record({ kind: fc.constant("removeNode" as const), id: ids, placement: fc.array(fc.array(ids, { maxLength: 3 }), { minLength: 3, maxLength: 5 }) }),
    fc.record({ kind: fc.constant("forgetNode" as const), id: ids }),
    fc.record({ kind: fc.constant("place" as const), shard: fc.integer({ min: -1, max: 4 }), replicas: fc.array(ids, { maxLength: 4 }) }),
  );

  it("takes any commands without throwing, the same way every time, and keeps its invariants", () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        const replay = () => {
          let state = bootstrapped();
          const results = [];
          for (const c of commands) {
            const before = state;
            const { state: next, result } = applyMeta(state, c);
            results.push(result);
            if (result.ok) expect(next.epoch).toBe(before.epoch + 1);
            else expect(next).toBe(before);
            // A removed id stays removed, and is never a member again.
            for (const id of before.removed) expect(next.removed).toContain(id);
            for (const id of next.removed) expect(next.nodes.some((n) => n.id === id)).toBe(false);
            // Every placed replica is on a member, once.
            for (const replicas of next.placement) {
              expect(new Set(replicas).size).toBe(replicas.length);
              for (const id of replicas) expect(next.nodes.some((n) => n.id === id)).toBe(true);
            }
            expect(next.nodes.map((n) => n.id)).toEqual([...new Set(next.nodes.map((n) => n.id))].sort());
            state = next;
          }
          return { state, results };
        };
        expect(replay()).toEqual(replay());
      }),
      { numRuns: 300 },
    );
  });
});
