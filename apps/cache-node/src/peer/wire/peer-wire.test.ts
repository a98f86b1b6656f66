import { asLogIndex, asNodeId, asTerm, type PeerMessage } from "@distcache/raft";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodePeerBatch as decodeGeneric, encodePeerBatch as encodeGeneric } from "./testing/peer-codec.js";
import { PeerWireError, decodePeerBatch, encodePeerBatch } from "./peer-wire.js";

const from = asNodeId("n1");
const to = asNodeId("n2");
const term = fc.nat({ max: 2 ** 45 }).map(asTerm);
const index = fc.nat({ max: 2 ** 45 }).map(asLogIndex);
const bytes = fc.uint8Array({ maxLength: 40 });

const message: fc.Arbitrary<PeerMessage> = fc
  .oneof(
    fc.record({
      type: fc.constant("app" as const),
      term,
      index,
      logTerm: term,
      commit: index,
      entries: fc.array(fc.record({ term, index, kind: fc.constantFrom("command" as const, "noop" as const, "config" as const), data: bytes }), {
        maxLength: 4,
      }),
    }),
    fc.record({ type: fc.constant("appResp" as const), term, index, reject: fc.boolean(), conflictTerm: term, conflictIndex: index }),
    fc.record({ type: fc.constantFrom("vote" as const, "preVote" as const), term, lastLogIndex: index, lastLogTerm: term, transfer: fc.boolean() }),
    fc.record({ type: fc.constantFrom("voteResp" as const, "preVoteResp" as const), term, reject: fc.boolean() }),
    fc.record({ type: fc.constant("heartbeat" as const), term, commit: index, readRound: fc.nat() }),
    fc.record({ type: fc.constant("heartbeatResp" as const), term, readRound: fc.nat() }),
    fc.record({ type: fc.constant("readIndex" as const), term, context: bytes }),
    fc.record({ type: fc.constant("readIndexResp" as const), term, context: bytes, index }),
    fc.record({ type: fc.constant("transferLeader" as const), term, transferee: fc.constantFrom("n1", "n3", "ñ☃").map(asNodeId) }),
    fc.record({ type: fc.constant("timeoutNow" as const), term }),
  )
  .map((m) => ({ from, to, ...m }) as PeerMessage);
const groupMessage = fc.record(
  { group: fc.nat({ max: 2 ** 32 - 1 }), message, clusterTimeMs: fc.integer({ min: 1, max: 2 ** 50 }) },
  { requiredKeys: ["group", "message"] },
);
const batch = fc.array(groupMessage, { maxLength: 6 });

describe("hand-written peer wire codec", () => {
  it("produces exactly the bytes of the generated protobuf code", () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(Buffer.from(encodePeerBatch(b))).toEqual(Buffer.from(encodeGeneric(b)));
      }),
    );
  });

  it("round-trips, and reads what the generated code writes", () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(decodePeerBatch(encodePeerBatch(b), from, to)).toEqual(b);
        expect(decodePeerBatch(encodeGeneric(b), from, to)).toEqual(decodeGeneric(encodeGeneric(b), from, to));
      }),
    );
  });

  it("rejects garbage, truncation and misaddressed messages without crashing", () => {
    const good = encodePeerBatch([{ group: 3, message: { type: "heartbeat", from, to, term: asTerm(5), commit: asLogIndex(9), readRound: 2 } }]);
    for (let cut = 1; cut < good.length; cut++) expect(() => decodePeerBatch(good.subarray(0, cut), from, to)).toThrow(PeerWireError);
    expect(() => decodePeerBatch(good, from, asNodeId("n9"))).toThrow(/for n2 to n9/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
        try {
          decodePeerBatch(garbage, from, to);
        } catch (err) {
          expect(err).toBeInstanceOf(PeerWireError);
        }
      }),
    );
  });
});
