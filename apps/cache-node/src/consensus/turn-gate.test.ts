import { describe, expect, it } from "vitest";
import { TurnGate } from "./turn-gate.js";

describe("TurnGate", () => {
  it("grants one step per turn of the event loop, in arrival order", async () => {
    const gate = new TurnGate();
    const trace: string[] = [];
    // A probe that records each turn of the loop by rescheduling itself.
    let turns = 0;
    let probing = true;
    const probe = () => {
      turns++;
      if (probing) setImmediate(probe);
    };
    setImmediate(probe);
    const worker = async (name: string) => {
      for (let step = 0; step < 3; step++) {
        await gate.turn();
        trace.push(`${name}${step}@${turns}`);
      }
    };
    await Promise.all([worker("a"), worker("b"), worker("c")]);
    probing = false;
    expect(trace.map((l) => l.split("@")[0])).toEqual(["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]);
    const atTurn = trace.map((l) => Number(l.split("@")[1]));
    // No two steps share a turn.
    expect(new Set(atTurn).size).toBe(atTurn.length);
    expect(gate.granted).toBe(9);
  });

  it("lets a step marked first go before those already waiting", async () => {
    const gate = new TurnGate();
    const order: string[] = [];
    const all = [gate.turn().then(() => order.push("a")), gate.turn().then(() => order.push("b")), gate.turn(true).then(() => order.push("first"))];
    await Promise.all(all);
    expect(order).toEqual(["first", "a", "b"]);
  });
});
