import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WriteSession } from "./write-session.js";

describe("WriteSession", () => {
  it("acknowledges up to the lowest write still in flight", () => {
    const s = new WriteSession("s", 0n);
    const [a, b, c] = [s.begin(), s.begin(), s.begin()];
    expect([a, b, c]).toEqual([1n, 2n, 3n]);
    s.finish(b);
    expect(s.ackedSequence).toBe(0n);
    s.finish(a);
    expect(s.ackedSequence).toBe(2n);
    expect(s.inFlight).toBe(1);
    s.finish(c);
    expect([s.ackedSequence, s.inFlight]).toEqual([3n, 0]);
    expect(() => s.finish(c)).toThrow(/not in flight/);
  });

  it("a session ends at its last sequence and refuses to finish a write twice", () => {
    const s = new WriteSession("s", 0n, 2n);
    const [a, b] = [s.begin(), s.begin()];
    expect(s.exhausted).toBe(true);
    expect(() => s.begin()).toThrow(/used every sequence up to 2/);
    s.finish(b);
    expect(() => s.finish(b)).toThrow(/not in flight/);
    s.finish(a);
    expect([s.ackedSequence, s.inFlight]).toEqual([2n, 0]);
    expect(new WriteSession("t", 0n).exhausted).toBe(false);
  });

  it("the watermark never passes an unfinished write, in any finishing order", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), fc.infiniteStream(fc.nat()), (steps, picks) => {
        const s = new WriteSession("s", 0n);
        const open: bigint[] = [];
        const it = picks[Symbol.iterator]();
        for (const begin of steps) {
          if (begin || open.length === 0) open.push(s.begin());
          else s.finish(open.splice(it.next().value % open.length, 1)[0]!);
          const lowestOpen = open.length === 0 ? undefined : open.reduce((a, b) => (a < b ? a : b));
          if (lowestOpen !== undefined) expect(s.ackedSequence).toBe(lowestOpen - 1n);
          expect(s.inFlight).toBe(open.length);
        }
      }),
    );
  });
});
