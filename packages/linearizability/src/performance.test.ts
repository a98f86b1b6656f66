import { describe, expect, it } from "vitest";
import { checkOperations } from "./check-operations.js";
import { keyedModel } from "./keyed-model.js";
import type { Operation } from "./model.js";
import { registerModel, type RegisterInput } from "./register-model.js";

type KeyedInput = RegisterInput & { key: string };

/** A small seeded generator (mulberry32), so the workload is the same every run. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * clients clients each run operations back to back (one at a time, as real
 * clients do) on random keys; each operation takes effect at a random point
 * inside its interval, and the register is executed in that order, so the
 * history is linearizable by construction. A few operations time out.
 */
function workload(operationCount: number, keyCount: number, clients: number, seed: number): Operation<KeyedInput, unknown>[] {
  const random = seededRandom(seed);
  const clientFreeAt = new Array<number>(clients).fill(0);
  const planned = Array.from({ length: operationCount }, (_, index) => {
    const clientId = index % clients;
    const callTime = clientFreeAt[clientId]! + Math.floor(random() * 5);
    const returnTime = callTime + 1 + Math.floor(random() * 20);
    clientFreeAt[clientId] = returnTime + 1;
    const key = `key-${Math.floor(random() * keyCount)}`;
    const input: KeyedInput = random() < 0.4 ? { kind: "write", value: index, key } : { kind: "read", key };
    const lost = random() < 0.02;
    return { clientId, input, callTime, returnTime, pointTime: callTime + random() * (returnTime - callTime), lost };
  });
  const values = new Map<string, unknown>();
  const outputs = new Map<number, unknown>();
  const byPoint = planned.map((_, index) => index).sort((a, b) => planned[a]!.pointTime - planned[b]!.pointTime);
  for (const index of byPoint) {
    const { input, lost } = planned[index]!;
    if (input.kind === "write" && (!lost || random() < 0.5)) values.set(input.key, input.value);
    if (input.kind === "read") outputs.set(index, values.get(input.key) ?? null);
  }
  return planned.map(({ clientId, input, callTime, returnTime, lost }, index) => ({
    clientId,
    input,
    callTime,
    returnTime: lost ? undefined : returnTime,
    output: lost ? undefined : outputs.get(index),
  }));
}

const model = keyedModel(registerModel, (input: KeyedInput) => input.key);

describe("checkOperations performance", () => {
  it.each([
    [3000, 50],
    [1000, 1],
  ])("checks %i operations over %i keys from 5 clients well within a second", (operationCount, keyCount) => {
    const history = workload(operationCount, keyCount, 5, 42);
    const startMs = performance.now();
    const result = checkOperations(model, history);
    const elapsedMs = performance.now() - startMs;
    expect(result.verdict).toBe("ok");
    // Measured ~20-60 ms here; the bound leaves room for a loaded CI machine.
    expect(elapsedMs).toBeLessThan(1000);
  });

  it("finds a single stale read in a long history", () => {
    const history = workload(3000, 50, 5, 7);
    const read = history.find((operation, index) => index > 2000 && operation.input.kind === "read" && operation.returnTime !== undefined)!;
    read.output = "stale";
    const result = checkOperations(model, history);
    expect(result.verdict).toBe("illegal");
    expect(result.failing!.operations).toContain(read);
  });
});
