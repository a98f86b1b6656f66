import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExpiryHeap } from "./expiry-heap.js";

describe("ExpiryHeap", () => {
  it("yields due keys in (expireAtMs, key) order after any sequence of sets and deletes", () => {
    const op = fc.oneof(
      fc.record({ key: fc.constantFrom("a", "b", "c", "d", "e", "f"), expireAtMs: fc.integer({ min: 0, max: 8 }) }),
      fc.record({ key: fc.constantFrom("a", "b", "c", "d", "e", "f") }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 0, max: 9 }), (ops, nowMs) => {
        const heap = new ExpiryHeap();
        const model = new Map<string, number>();
        for (const step of ops) {
          if ("expireAtMs" in step) {
            heap.set(step.key, step.expireAtMs);
            if (step.expireAtMs === 0) model.delete(step.key);
            else model.set(step.key, step.expireAtMs);
          } else {
            heap.delete(step.key);
            model.delete(step.key);
          }
          heap.checkInvariants((key) => model.get(key));
        }
        const expected = [...model]
          .filter(([, expireAtMs]) => expireAtMs <= nowMs)
          .sort(([keyA, a], [keyB, b]) => a - b || (keyA < keyB ? -1 : 1))
          .map(([key]) => key);
        const drained: string[] = [];
        for (let key = heap.due(nowMs); key !== undefined; key = heap.due(nowMs)) {
          drained.push(key);
          heap.delete(key);
        }
        expect(drained).toEqual(expected);
      }),
    );
  });
});
