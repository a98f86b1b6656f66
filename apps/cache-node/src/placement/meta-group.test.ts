import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_META_STATE, applyMeta, type MetaCommand, type MetaState } from "../state-machine/meta-state.js";
import { bootstrapCommand, decodeMetaState, encodeMetaState, initialMetaVoters, metaVoterCount } from "./meta-group.js";

const member = (i: number) => ({ id: `n${i}`, clientAddress: `127.0.0.1:${7300 + i}`, peerAddress: `127.0.0.1:${7400 + i}` });

describe("meta group voters", () => {
  it("are all nodes below 3, then 3, then 5 from 5 nodes on", () => {
    expect([1, 2, 3, 4, 5, 6, 9].map(metaVoterCount)).toEqual([1, 2, 3, 3, 5, 5, 5]);
    expect(initialMetaVoters(["a", "b", "c", "d"])).toEqual(["a", "b", "c"]);
  });
});

describe("the meta document's encoding", () => {
  // Documents as applyMeta makes them: a bootstrap, then nodes added, removed and placed.
  const documents = fc
    .record({
      nodes: fc.integer({ min: 1, max: 6 }),
      shards: fc.integer({ min: 1, max: 8 }),
      steps: fc.array(fc.tuple(fc.constantFrom("add", "remove", "place"), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 7 })), { maxLength: 12 }),
    })
    .map(({ nodes, shards, steps }) => {
      const members = Array.from({ length: nodes }, (_, i) => member(i + 1));
      const placement = Array.from({ length: shards }, (_, s) => [members[s % nodes]!.id]);
      let state: MetaState = applyMeta(EMPTY_META_STATE, bootstrapCommand(members, placement, 64)).state;
      for (const [kind, n, shard] of steps) {
        const command: MetaCommand =
          kind === "add"
            ? { kind: "addNode", ...member(n) }
            : kind === "remove"
              ? { kind: "removeNode", id: `n${n}` }
              : { kind: "place", shard, replicas: [`n${n}`] };
        state = applyMeta(state, command).state;
      }
      return state;
    });

  it("reads back every document applyMeta makes", () => {
    fc.assert(
      fc.property(documents, (state) => {
        expect(decodeMetaState(encodeMetaState(state))).toEqual(state);
      }),
    );
  });

  it("reads a document written before it recorded bootstrap voters: they are its placement, and the first members for the meta group", () => {
    const nodes = ["n1", "n2", "n3", "n4"].map((id) => ({ id, clientAddress: "h:1", peerAddress: "h:2", leaving: false }));
    const placement = [
      ["n1", "n2", "n3"],
      ["n2", "n3", "n4"],
    ];
    const { bootstrapVoters: _b, metaBootstrapVoters: _m, ...older } = { ...EMPTY_META_STATE, epoch: 1, shardCount: 2, nodes, placement };
    const read = decodeMetaState(new TextEncoder().encode(JSON.stringify(older)));
    expect(read).toMatchObject({ bootstrapVoters: placement, metaBootstrapVoters: initialMetaVoters(nodes.map((n) => n.id)) });
  });

  it.each([
    ["bytes that are not UTF-8", new Uint8Array([0xff, 0xfe])],
    ["text that is not JSON", new TextEncoder().encode("{epoch:")],
    ["JSON of another shape", new TextEncoder().encode('{"epoch":1}')],
    ["an epoch that is no count", encodeMetaState({ ...EMPTY_META_STATE, epoch: -1 })],
    ["a placement of another length than the shard count", encodeMetaState({ ...EMPTY_META_STATE, shardCount: 2, placement: [["n1"]] })],
    ["a node id out of its pattern", encodeMetaState({ ...EMPTY_META_STATE, removed: ["bad id"] })],
  ])("reads no document from %s", (_name, bytes) => {
    expect(decodeMetaState(bytes)).toBeUndefined();
  });
});
