import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerWireError } from "./peer-wire.js";
import { decodeAccessSamples, encodeAccessSamples, isAccessSamplesFrame } from "./access-samples-wire.js";
import { isSnapshotFrame } from "./snapshot-wire.js";

describe("access samples frames", () => {
  it("round-trip and are told apart from other frames", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat({ max: 4095 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 5 }),
        (groups, keys) => {
          const samples = new Map(groups.map((g) => [g, keys]));
          const frame = encodeAccessSamples(samples);
          expect(isAccessSamplesFrame(frame)).toBe(true);
          expect(isSnapshotFrame(frame)).toBe(false);
          expect(decodeAccessSamples(frame)).toEqual(samples);
        },
      ),
    );
  });

  it("refuse garbage with a wire error", () => {
    expect(() => decodeAccessSamples(new Uint8Array([0x1a, 0xff]))).toThrow(PeerWireError);
  });
});
