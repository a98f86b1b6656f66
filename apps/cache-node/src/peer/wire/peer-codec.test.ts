import { asNodeId, asTerm } from "@distcache/raft";
import { describe, expect, it } from "vitest";
import { PeerDecodeError, decodePeerBatch, encodePeerBatch } from "./testing/peer-codec.js";

// Round trips of every message type are checked in peer-wire.test.ts, against this codec.
const from = asNodeId("n1");
const to = asNodeId("n2");

describe("peer codec (generated code)", () => {
  it("rejects garbage and misaddressed messages", () => {
    expect(() => decodePeerBatch(new Uint8Array([0x0a, 0xff, 0xff]), from, to)).toThrow(PeerDecodeError);
    const encoded = encodePeerBatch([{ group: 1, message: { type: "timeoutNow", from, to, term: asTerm(3) } }]);
    expect(() => decodePeerBatch(encoded, from, asNodeId("n9"))).toThrow(/for n2 to n9/);
  });
});
