import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WriteSession } from "./write-session.js";

describe("WriteSession", () => {
  it("acknowledges to a shard up to the lowest write to it still in flight", () => {
    const s = new WriteSession("s", 0n);
    const [a, b, c] = [s.begin(0), s.begin(0), s.begin(0)];
    expect([a, b, c]).toEqual([1n, 2n, 3n]);
    s.finish(0, b);
    expect(s.ackedSequence(0)).toBe(0n);
    s.finish(0, a);
    expect(s.ackedSequence(0)).toBe(2n);
    expect(s.inFlight).toBe(1);
    s.finish(0, c);
    expect([s.ackedSequence(0), s.inFlight]).toEqual([3n, 0]);
    expect(() => s.finish(0, c)).toThrow(/not in flight/);
  });

  it("a write stuck on one shard holds back that shard's watermark only", () => {
    const s = new WriteSession("s", 0n);
    const stuck = s.begin(1);
    for (let i = 0; i < 5; i++) s.finish(0, s.begin(0));
    expect(s.ackedSequence(0)).toBe(6n);
    expect(s.ackedSequence(1)).toBe(stuck - 1n);
    expect(s.ackedSequence(2)).toBe(6n);
    expect(() => s.finish(0, stuck)).toThrow(/not in flight on shard 0/);
    s.finish(1, stuck);
    expect(s.ackedSequence(1)).toBe(6n);
  });

  it("a session ends at its last sequence and refuses to finish a write twice", () => {
    const s = new WriteSession("s", 0n, 2n);
    const [a, b] = [s.begin(0), s.begin(3)];
    expect(s.exhausted).toBe(true);
    expect(() => s.begin(0)).toThrow(/used every sequence up to 2/);
    s.finish(3, b);
    expect(() => s.finish(3, b)).toThrow(/not in flight/);
    s.finish(0, a);
    expect([s.ackedSequence(0), s.ackedSequence(3), s.inFlight]).toEqual([2n, 2n, 0]);
    expect(new WriteSession("t", 0n).exhausted).toBe(false);
  });

  it("no shard's watermark passes an unfinished write to it, in any order over any shards", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat({ max: 3 })), { minLength: 1, maxLength: 80 }), fc.infiniteStream(fc.nat()), (steps, picks) => {
        const s = new WriteSession("s", 0n);
        const open: { shard: number; sequence: bigint }[] = [];
        const it = picks[Symbol.iterator]();
        let last = 0n;
        for (const [begin, shard] of steps) {
          if (begin || open.length === 0) open.push({ shard, sequence: (last = s.begin(shard)) });
          else {
            const done = open.splice(it.next().value % open.length, 1)[0]!;
            s.finish(done.shard, done.sequence);
          }
          for (let shard = 0; shard <= 3; shard++) {
            const mine = open.filter((o) => o.shard === shard).map((o) => o.sequence);
            const lowest = mine.length === 0 ? undefined : mine.reduce((a, b) => (a < b ? a : b));
            expect(s.ackedSequence(shard)).toBe(lowest === undefined ? last : lowest - 1n);
          }
          expect(s.inFlight).toBe(open.length);
        }
      }),
    );
  });
});
