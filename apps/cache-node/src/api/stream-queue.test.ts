import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StreamQueue } from "./stream-queue.js";

describe("StreamQueue", () => {
  it("hands messages out in order, and refuses one that would pass either bound", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.constant(null)), { maxLength: 200 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 40 }),
        (ops, messagesMax, bytesMax) => {
          const queue = new StreamQueue<string>(messagesMax, bytesMax, (m) => m.length);
          const model: string[] = [];
          for (const op of ops) {
            if (op === null) {
              expect(queue.take()).toBe(model.shift());
              continue;
            }
            const held = model.reduce((n, m) => n + m.length, 0);
            const expected = model.length >= messagesMax ? "messages" : model.length > 0 && held + op.length > bytesMax ? "bytes" : undefined;
            expect(queue.offer(op)).toBe(expected);
            if (expected === undefined) model.push(op);
            expect(queue.length).toBe(model.length);
          }
        },
      ),
    );
  });

  it("holds a stream's first messages whatever the bounds", () => {
    const queue = new StreamQueue<string>(1, 1, (m) => m.length);
    queue.force("long");
    queue.force("longer");
    expect(queue.offer("x")).toBe("messages");
    expect([queue.take(), queue.take(), queue.take()]).toEqual(["long", "longer", undefined]);
  });
});
