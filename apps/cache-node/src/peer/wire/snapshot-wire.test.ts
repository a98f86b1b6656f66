import { asLogIndex, asNodeId, asTerm, type SnapshotMessage } from "@distcache/raft";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerWireError, encodePeerBatch } from "./peer-wire.js";
import { decodeSnapshotChunks, encodeSnapshotChunk, isSnapshotFrame } from "./snapshot-wire.js";

const from = asNodeId("n1");
const self = asNodeId("n2");

const message = (index: number, term: number, voters: string[], learners: string[]): SnapshotMessage => ({
  type: "snapshot",
  from,
  to: self,
  term: asTerm(term + 1),
  snapshot: { index: asLogIndex(index), term: asTerm(term), confState: { voters: voters.map(asNodeId), learners: learners.map(asNodeId) } },
});

describe("snapshot chunk frames", () => {
  it("round-trip the transfer's metadata and data", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.nat({ max: 2 ** 45 }),
        fc.nat({ max: 2 ** 40 }),
        fc.uniqueArray(fc.constantFrom("n1", "n2", "n3", "n4"), { minLength: 1 }),
        fc.nat({ max: 1000 }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 300 }),
        (group, index, term, voters, seq, last, data) => {
          const sent = message(index, term, voters, []);
          const [chunk, ...rest] = decodeSnapshotChunks(encodeSnapshotChunk(group, sent, seq, last, data), from, self);
          expect(rest).toEqual([]);
          expect(chunk).toEqual({ group, message: sent, seq, last, data });
        },
      ),
    );
  });

  it("are told apart from message batches by their first byte", () => {
    const frame = encodeSnapshotChunk(3, message(10, 2, ["n1", "n2"], ["n3"]), 0, true, new Uint8Array([1, 2]));
    expect(isSnapshotFrame(frame)).toBe(true);
    const batch = encodePeerBatch([{ group: 3, message: { type: "heartbeat", from, to: self, term: asTerm(5), commit: asLogIndex(9), readRound: 2 } }]);
    expect(isSnapshotFrame(batch)).toBe(false);
    expect(isSnapshotFrame(new Uint8Array(0))).toBe(false);
  });

  it("refuse a chunk addressed to another node, and garbage", () => {
    const frame = encodeSnapshotChunk(3, message(10, 2, ["n1", "n2"], []), 0, true, new Uint8Array([1]));
    expect(() => decodeSnapshotChunks(frame, from, asNodeId("n9"))).toThrow(/is for n2, not n9/);
    expect(() => decodeSnapshotChunks(new Uint8Array([0x12, 0xff]), from, self)).toThrow(PeerWireError);
  });
});
