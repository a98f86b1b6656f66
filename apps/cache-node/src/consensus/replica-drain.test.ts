import { describe, expect, it } from "vitest";
import { DrainStateError, ReplicaDrain, checkReady } from "./replica-drain.js";
import { TurnGate } from "./turn-gate.js";

describe("ReplicaDrain", () => {
  it("takes one Ready at a time, and a held replica's Readys defer their entries", async () => {
    const drain = new ReplicaDrain(3);
    expect(drain.canTakeReady).toBe(true);
    expect(drain.tookReady()).toBe("apply");
    expect(() => drain.tookReady()).toThrow(DrainStateError);
    drain.advanced();
    expect(() => drain.advanced()).toThrow(/advanced without a Ready/);
    const release = await drain.hold();
    expect([drain.canTakeReady, drain.held]).toEqual([true, true]);
    expect(drain.tookReady()).toBe("defer");
    // A second capture need not wait for a Ready that applies nothing.
    const second = await drain.hold();
    drain.advanced();
    release();
    expect(drain.held).toBe(true);
    second();
    expect(drain.held).toBe(false);
    expect(drain.tookReady()).toBe("apply");
    drain.advanced();
    expect(() => second()).toThrow(/released twice/);
  });

  it("a hold asked for inside a Ready resolves when that Ready is advanced, not before", async () => {
    const drain = new ReplicaDrain(0);
    drain.tookReady();
    let held = false;
    const hold = drain.hold().then((release) => {
      held = true;
      return release;
    });
    await new Promise((r) => setImmediate(r));
    expect(held).toBe(false);
    expect(drain.canTakeReady).toBe(false);
    drain.advanced();
    (await hold)();
    expect(held).toBe(true);
  });

  it("a capture waiting on a Ready takes none of the turns that Ready needs (no starvation, no deadlock)", async () => {
    // The driver's Ready needs gated turns to finish (decoding a received snapshot);
    // a capture that asked to hold the replica meanwhile waits without taking any.
    const gate = new TurnGate();
    const drain = new ReplicaDrain(0);
    drain.tookReady();
    const cycle = (async () => {
      for (let i = 0; i < 5; i++) await gate.turn();
      drain.advanced();
      return "advanced";
    })();
    const capture = (async () => {
      const release = await drain.hold();
      await gate.turn(true);
      release();
      return "captured";
    })();
    const outcome = await Promise.race([Promise.all([cycle, capture]), new Promise((r) => setTimeout(() => r("stuck"), 2000))]);
    expect(outcome).toEqual(["advanced", "captured"]);
  });
});

describe("ReplicaDrain when the driver stops", () => {
  it("fails holds waiting on a Ready that will not be advanced, and any later hold", async () => {
    const drain = new ReplicaDrain(1);
    drain.tookReady();
    const waiting = drain.hold();
    drain.abandon(new Error("node is shutting down"));
    await expect(waiting).rejects.toThrow(/shutting down/);
    await expect(drain.hold()).rejects.toThrow(/shutting down/);
    // The failed holds hold nothing.
    drain.advanced();
    expect(drain.canTakeReady).toBe(true);
  });
});

describe("checkReady", () => {
  const ready = (over: Partial<Parameters<typeof checkReady>[2]>) => ({ committedEntries: [], immediateMessages: [], entries: [], ...over });

  it("accepts contiguous commits, after the applied index or an installed snapshot", () => {
    expect(() => checkReady(0, 4, ready({ committedEntries: [{ index: 5 }, { index: 6 }] }))).not.toThrow();
    expect(() => checkReady(0, 4, ready({ snapshot: { index: 9 }, committedEntries: [{ index: 10 }] }))).not.toThrow();
  });

  it("refuses a gap or a repeat in committed entries", () => {
    expect(() => checkReady(1, 4, ready({ committedEntries: [{ index: 6 }] }))).toThrow(/committed entry 6 does not follow 4/);
    expect(() => checkReady(1, 4, ready({ committedEntries: [{ index: 5 }, { index: 5 }] }))).toThrow(DrainStateError);
  });

  it("refuses a vote or an append ack sent before what it promises is persisted", () => {
    expect(() => checkReady(2, 0, ready({ hardState: { term: 2 }, immediateMessages: [{ type: "voteResp" }] }))).toThrow(/voteResp would leave before/);
    expect(() => checkReady(2, 0, ready({ entries: [{}], immediateMessages: [{ type: "appResp" }] }))).toThrow(DrainStateError);
    expect(() => checkReady(2, 0, ready({ entries: [{}], immediateMessages: [{ type: "app" }, { type: "heartbeat" }] }))).not.toThrow();
  });
});
