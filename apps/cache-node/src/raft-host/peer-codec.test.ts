import { asLogIndex, asNodeId, asTerm, type PeerMessage } from "@distcache/raft";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerDecodeError, decodePeerBatch, encodePeerBatch } from "./peer-codec.js";

const from = asNodeId("n1");
const to = asNodeId("n2");
const term = fc.nat({ max: 2 ** 40 }).map(asTerm);
const index = fc.nat({ max: 2 ** 40 }).map(asLogIndex);
const bytes = fc.uint8Array({ maxLength: 32 });
const base = { from, to };

const message: fc.Arbitrary<PeerMessage> = fc.oneof(
  fc.record({
    type: fc.constant("app" as const),
    term,
    index,
    logTerm: term,
    commit: index,
    entries: fc.array(fc.record({ term, index, kind: fc.constantFrom("command" as const, "noop" as const), data: bytes }), { maxLength: 4 }),
  }),
  fc.record({ type: fc.constant("appResp" as const), term, index, reject: fc.boolean(), conflictTerm: term, conflictIndex: index }),
  fc.record({ type: fc.constantFrom("vote" as const, "preVote" as const), term, lastLogIndex: index, lastLogTerm: term, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom("voteResp" as const, "preVoteResp" as const), term, reject: fc.boolean() }),
  fc.record({ type: fc.constant("heartbeat" as const), term, commit: index, readRound: fc.nat() }),
  fc.record({ type: fc.constant("heartbeatResp" as const), term, readRound: fc.nat() }),
  fc.record({ type: fc.constant("readIndex" as const), term, context: bytes }),
  fc.record({ type: fc.constant("readIndexResp" as const), term, context: bytes, index }),
  fc.record({ type: fc.constant("transferLeader" as const), term, transferee: fc.constantFrom("n1", "n3").map(asNodeId) }),
  fc.record({ type: fc.constant("timeoutNow" as const), term }),
).map((m) => ({ ...base, ...m }) as PeerMessage);

describe("peer codec", () => {
  it("round-trips every message type", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ group: fc.nat({ max: 4095 }), message }), { maxLength: 8 }), (batch) => {
        expect(decodePeerBatch(encodePeerBatch(batch), from, to)).toEqual(batch);
      }),
    );
  });

  it("rejects garbage and misaddressed messages", () => {
    expect(() => decodePeerBatch(new Uint8Array([0x0a, 0xff, 0xff]), from, to)).toThrow(PeerDecodeError);
    const encoded = encodePeerBatch([{ group: 1, message: { type: "timeoutNow", from, to, term: asTerm(3) } }]);
    expect(() => decodePeerBatch(encoded, from, asNodeId("n9"))).toThrow(/for n2 to n9/);
  });
});
