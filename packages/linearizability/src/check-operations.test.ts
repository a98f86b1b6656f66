import { describe, expect, it } from "vitest";
import { checkOperations } from "./check-operations.js";
import { counterModel, type CounterInput, type CounterOutput } from "./counter-model.js";
import { keyedModel } from "./keyed-model.js";
import type { Model, Operation, Verdict } from "./model.js";
import { registerModel, type RegisterInput } from "./register-model.js";
import { versionedRegisterModel, type VersionedRegisterInput, type VersionedRegisterOutput } from "./versioned-register-model.js";

/** A completed operation. */
function done<I, O>(clientId: number, input: I, callTime: number, returnTime: number, output: O): Operation<I, O> {
  return { clientId, input, callTime, returnTime, output };
}

/** An operation that never returned. */
function lost<I, O>(clientId: number, input: I, callTime: number): Operation<I, O> {
  return { clientId, input, callTime, returnTime: undefined, output: undefined };
}

const write = (value: unknown): RegisterInput => ({ kind: "write", value });
const read: RegisterInput = { kind: "read" };

type RegisterCase = [string, Operation<RegisterInput, unknown>[], Verdict];

const REGISTER_CASES: RegisterCase[] = [
  ["an empty history", [], "ok"],
  ["a read of the initial absent value", [done(1, read, 0, 1, null)], "ok"],
  ["a sequential write then read", [done(1, write(1), 0, 1, undefined), done(1, read, 2, 3, 1)], "ok"],
  ["a read of a value never written", [done(1, write(1), 0, 1, undefined), done(2, read, 2, 3, 7)], "illegal"],
  ["a read concurrent with a write seeing the old value", [done(1, write(1), 0, 10, undefined), done(2, read, 2, 5, null)], "ok"],
  ["a read concurrent with a write seeing the new value", [done(1, write(1), 0, 10, undefined), done(2, read, 2, 5, 1)], "ok"],
  ["a stale read after a completed write", [done(1, write(1), 0, 5, undefined), done(1, write(2), 6, 10, undefined), done(2, read, 11, 12, 1)], "illegal"],
  [
    "a read going back to absent after another read saw the write",
    [done(1, write(1), 0, 10, undefined), done(2, read, 1, 2, 1), done(3, read, 3, 4, null)],
    "illegal",
  ],
  [
    "overlapping writes read in either order of effect",
    [done(1, write(1), 0, 10, undefined), done(2, write(2), 0, 10, undefined), done(3, read, 11, 12, 1)],
    "ok",
  ],
  [
    "two reads after overlapping writes disagreeing",
    [done(1, write(1), 0, 10, undefined), done(2, write(2), 0, 10, undefined), done(3, read, 11, 12, 1), done(3, read, 13, 14, 2)],
    "illegal",
  ],
  ["a read called at the very tick a write returned (equal times overlap)", [done(1, write(1), 0, 5, undefined), done(2, read, 5, 6, null)], "ok"],
  ["byte values compared by content", [done(1, write(new Uint8Array([1, 2])), 0, 1, undefined), done(2, read, 2, 3, new Uint8Array([1, 2]))], "ok"],
  ["a delete reporting nothing deleted on a present value", [done(1, write(1), 0, 1, undefined), done(1, { kind: "delete" }, 2, 3, false)], "illegal"],
  ["a delete then an absent read", [done(1, write(1), 0, 1, undefined), done(1, { kind: "delete" }, 2, 3, true), done(2, read, 4, 5, undefined)], "ok"],
];

const INDETERMINATE_CASES: RegisterCase[] = [
  ["an indeterminate write observed later", [lost(1, write(1), 0), done(2, read, 5, 6, 1)], "ok"],
  ["an indeterminate write never observed", [lost(1, write(1), 0), done(2, read, 5, 6, null), done(2, read, 7, 8, null)], "ok"],
  ["an indeterminate write observed then un-observed", [lost(1, write(1), 0), done(2, read, 5, 6, 1), done(2, read, 7, 8, null)], "illegal"],
  ["an indeterminate write observed before it was called", [done(2, read, 0, 1, 1), lost(1, write(1), 2)], "illegal"],
  ["two indeterminate writes observed in one order", [lost(1, write(1), 0), lost(2, write(2), 0), done(3, read, 5, 6, 1), done(3, read, 7, 8, 2)], "ok"],
  ["two indeterminate writes observed in the other order", [lost(1, write(1), 0), lost(2, write(2), 0), done(3, read, 5, 6, 2), done(3, read, 7, 8, 1)], "ok"],
  [
    "two indeterminate writes, one observed twice around the other",
    [lost(1, write(1), 0), lost(2, write(2), 0), done(3, read, 5, 6, 1), done(3, read, 7, 8, 2), done(3, read, 9, 10, 1)],
    "illegal",
  ],
  ["an indeterminate write overwritten by a later completed write", [lost(1, write(1), 0), done(2, write(2), 3, 4, undefined), done(3, read, 5, 6, 1)], "ok"],
  ["an indeterminate read, whose output is unknown", [done(1, write(1), 0, 1, undefined), lost(2, read, 2), done(3, read, 3, 4, 1)], "ok"],
];

describe("checkOperations on a register", () => {
  it.each([...REGISTER_CASES, ...INDETERMINATE_CASES])("%s: %s", (_, history, verdict) => {
    const result = checkOperations(registerModel, history);
    expect(result.verdict).toBe(verdict);
    expect(result.failing !== undefined).toBe(verdict === "illegal");
  });
});

type VersionedOperation = Operation<VersionedRegisterInput, VersionedRegisterOutput>;
const get: VersionedRegisterInput = { kind: "get" };
const set = (value: unknown): VersionedRegisterInput => ({ kind: "set", value });
const setIfAbsent = (value: unknown): VersionedRegisterInput => ({ kind: "set", value, condition: { kind: "if_absent" } });
const setIfVersion = (value: unknown, version: number): VersionedRegisterInput => ({
  kind: "set",
  value,
  condition: { kind: "if_version", version },
});
const written = (version: number): VersionedRegisterOutput => ({ ok: true, version });
const rejected: VersionedRegisterOutput = { ok: false };
const found = (value: unknown, version: number): VersionedRegisterOutput => ({ found: true, value, version });
const missing: VersionedRegisterOutput = { found: false };

const VERSIONED_CASES: Array<[string, VersionedOperation[], Verdict]> = [
  ["set then get of the same version", [done(1, set("a"), 0, 1, written(10)), done(1, get, 2, 3, found("a", 10))], "ok"],
  ["a get reporting another version", [done(1, set("a"), 0, 1, written(10)), done(1, get, 2, 3, found("a", 11))], "illegal"],
  ["a get before any set", [done(1, get, 0, 1, missing)], "ok"],
  ["if_absent failing on a present key", [done(1, set("a"), 0, 1, written(1)), done(2, setIfAbsent("b"), 2, 3, rejected)], "ok"],
  ["if_absent succeeding on a present key", [done(1, set("a"), 0, 1, written(1)), done(2, setIfAbsent("b"), 2, 3, written(2))], "illegal"],
  ["an unconditional set reporting failure", [done(1, set("a"), 0, 1, rejected)], "illegal"],
  [
    "two concurrent compare-and-sets on one version, one winning",
    [
      done(1, set("a"), 0, 1, written(1)),
      done(2, setIfVersion("b", 1), 2, 6, written(2)),
      done(3, setIfVersion("c", 1), 2, 6, rejected),
      done(1, get, 7, 8, found("b", 2)),
    ],
    "ok",
  ],
  [
    "two concurrent compare-and-sets on one version, both winning",
    [done(1, set("a"), 0, 1, written(1)), done(2, setIfVersion("b", 1), 2, 6, written(2)), done(3, setIfVersion("c", 1), 2, 6, written(3))],
    "illegal",
  ],
  ["a write whose version goes backwards", [done(1, set("a"), 0, 1, written(5)), done(1, set("b"), 2, 3, written(3))], "illegal"],
  [
    "versions keep rising across a delete",
    [done(1, set("a"), 0, 1, written(5)), done(1, { kind: "delete" }, 2, 3, { deleted: true }), done(1, setIfAbsent("b"), 4, 5, written(4))],
    "illegal",
  ],
  [
    "delete then if_absent",
    [
      done(1, set("a"), 0, 1, written(5)),
      done(1, { kind: "delete" }, 2, 3, { deleted: true }),
      done(1, setIfAbsent("b"), 4, 5, written(6)),
      done(2, get, 6, 7, found("b", 6)),
    ],
    "ok",
  ],
  [
    "an indeterminate set observed, then compared-and-set on its version",
    [done(1, set("a"), 0, 1, written(1)), lost(2, set("b"), 2), done(3, get, 5, 6, found("b", 4)), done(3, setIfVersion("c", 4), 7, 8, written(5))],
    "ok",
  ],
  [
    "an indeterminate set whose observed version is not new",
    [done(1, set("a"), 0, 1, written(3)), lost(2, set("b"), 2), done(3, get, 5, 6, found("b", 3))],
    "illegal",
  ],
  [
    "if_version 0 meaning only if absent",
    [done(1, setIfVersion("a", 0), 0, 1, written(1)), done(1, setIfVersion("b", 0), 2, 3, rejected), done(1, get, 4, 5, found("a", 1))],
    "ok",
  ],
  ["if_version 0 succeeding on a present key", [done(1, set("a"), 0, 1, written(1)), done(1, setIfVersion("b", 0), 2, 3, written(2))], "illegal"],
  [
    "bigint versions compared with number versions by value",
    [done(1, set("a"), 0, 1, { ok: true, version: 7n }), done(1, setIfVersion("b", 7), 2, 3, { ok: true, version: 8n }), done(1, get, 4, 5, found("b", 8))],
    "ok",
  ],
  [
    "an indeterminate compare-and-set that lost to another",
    [done(1, set("a"), 0, 1, written(1)), lost(2, setIfVersion("b", 1), 2), done(3, setIfVersion("c", 1), 2, 3, written(2)), done(3, get, 4, 5, found("c", 2))],
    "ok",
  ],
];

describe("checkOperations on a versioned register", () => {
  it.each(VERSIONED_CASES)("%s: %s", (_, history, verdict) => {
    expect(checkOperations(versionedRegisterModel, history).verdict).toBe(verdict);
  });
});

const incr = (delta: number | bigint): CounterInput => ({ kind: "incr", delta });
const getCount: CounterInput = { kind: "get" };

const COUNTER_CASES: Array<[string, Operation<CounterInput, CounterOutput>[], Verdict]> = [
  ["sequential increments", [done(1, incr(1), 0, 1, 1), done(1, incr(2), 2, 3, 3), done(2, getCount, 4, 5, 3)], "ok"],
  ["concurrent increments in either order", [done(1, incr(1), 0, 10, 3), done(2, incr(2), 0, 10, 2)], "ok"],
  ["concurrent increments returning the same value", [done(1, incr(1), 0, 10, 1), done(2, incr(1), 0, 10, 1)], "illegal"],
  ["a stale get after an increment", [done(1, incr(5), 0, 1, 5), done(2, getCount, 2, 3, 0)], "illegal"],
  ["an indeterminate increment observed", [lost(1, incr(5), 0), done(2, getCount, 2, 3, 5)], "ok"],
  ["an indeterminate increment not observed", [lost(1, incr(5), 0), done(2, getCount, 2, 3, 0)], "ok"],
  ["a value no subset of indeterminate increments can make", [lost(1, incr(5), 0), lost(2, incr(4), 0), done(3, getCount, 2, 3, 3)], "illegal"],
  ["values beyond 2^53 as bigints", [done(1, incr(2n ** 62n), 0, 1, 2n ** 62n), done(1, incr(1), 2, 3, 2n ** 62n + 1n)], "ok"],
];

describe("checkOperations on a counter", () => {
  it.each(COUNTER_CASES)("%s: %s", (_, history, verdict) => {
    expect(checkOperations(counterModel, history).verdict).toBe(verdict);
  });
});

type KeyedInput = RegisterInput & { key: string };
const keyedRegister = keyedModel(registerModel, (input: KeyedInput) => input.key);
const on = (key: string, input: RegisterInput): KeyedInput => ({ ...input, key });

describe("checkOperations with keyedModel", () => {
  it("checks keys independently (the same history on one key would be illegal)", () => {
    const history = [
      done(1, on("a", write(1)), 0, 1, undefined),
      done(2, on("b", write(2)), 0, 1, undefined),
      done(3, on("a", read), 2, 3, 1),
      done(3, on("b", read), 4, 5, 2),
    ];
    expect(checkOperations(keyedRegister, history).verdict).toBe("ok");
    expect(checkOperations(registerModel, history).verdict).toBe("illegal");
  });

  it("reports the failing key's operations only", () => {
    const history = [
      done(1, on("a", write(1)), 0, 1, undefined),
      done(2, on("b", write(1)), 0, 1, undefined),
      done(1, on("a", write(2)), 2, 3, undefined),
      done(2, on("b", read), 2, 3, 1),
      done(3, on("a", read), 4, 5, 1),
    ];
    const result = checkOperations(keyedRegister, history);
    expect(result.verdict).toBe("illegal");
    expect(result.failing!.operations.every((operation) => operation.input.key === "a")).toBe(true);
    expect(result.failing!.explanation).toContain("a: read() -> 1");
  });
});

describe("checkOperations time budget", () => {
  /** A clock that jumps 1000 ms on every read. */
  const jumpingClock = (): (() => number) => {
    let nowMs = 0;
    return () => (nowMs += 1000);
  };

  it("returns unknown when the budget runs out between partitions", () => {
    const history = [done(1, on("a", write(1)), 0, 1, undefined), done(1, on("b", write(1)), 0, 1, undefined)];
    const result = checkOperations(keyedRegister, history, { timeBudgetMs: 10, now: jumpingClock() });
    expect(result).toEqual({ verdict: "unknown" });
  });

  it("returns unknown when the budget runs out inside a long search", () => {
    // Ten overlapping writes and a read of a value none wrote: proving it
    // illegal means trying every subset of the writes.
    const history = [...Array.from({ length: 10 }, (_, index) => done(index, write(index), 0, 100, undefined)), done(99, read, 101, 102, "never written")];
    expect(checkOperations(registerModel, history, { timeBudgetMs: 10, now: jumpingClock() }).verdict).toBe("unknown");
    expect(checkOperations(registerModel, history).verdict).toBe("illegal");
  });

  it("never reads the clock without a budget", () => {
    const now = (): number => {
      throw new Error("clock read");
    };
    expect(checkOperations(registerModel, [done(1, read, 0, 1, null)], { now }).verdict).toBe("ok");
  });

  it("reports illegal even when another partition ran out of time", () => {
    let reads = 0;
    // The first partition is fast; the clock then jumps past the budget.
    const now = (): number => (reads++ < 3 ? 0 : 1e9);
    const history = [done(1, on("a", write(1)), 0, 1, undefined), done(1, on("a", read), 2, 3, 2), done(2, on("b", write(1)), 0, 1, undefined)];
    expect(checkOperations(keyedRegister, history, { timeBudgetMs: 10, now }).verdict).toBe("illegal");
  });
});

describe("checkOperations with many indeterminate operations", () => {
  it("settles 30 overlapping lost writes and an impossible read quickly", () => {
    const history = [
      ...Array.from({ length: 30 }, (_, index) => lost<RegisterInput, unknown>(index, write(index), 0)),
      done(99, read, 1, 2, 5),
      done(99, read, 3, 4, 7),
      done(99, read, 5, 6, 5),
    ];
    expect(checkOperations(registerModel, history, { timeBudgetMs: 5_000 }).verdict).toBe("illegal");
    expect(checkOperations(registerModel, history.slice(0, -1), { timeBudgetMs: 5_000 }).verdict).toBe("ok");
  });
});

describe("checkOperations failing sub-history", () => {
  const relax = <I, O>(operation: Operation<I, O>): Operation<I, O> => ({
    ...operation,
    returnTime: undefined,
    output: undefined,
  });

  /**
   * 1-minimal: illegal even with every other operation of the history relaxed
   * (it may have happened at any time after its call, or never), and legal
   * once any one of its own operations is relaxed too.
   */
  function expectOneMinimal(history: Operation<RegisterInput, unknown>[], failing: Operation<RegisterInput, unknown>[]): void {
    const others = history.filter((operation) => !failing.includes(operation)).map(relax);
    expect(checkOperations(registerModel, failing).verdict).toBe("illegal");
    expect(checkOperations(registerModel, [...failing, ...others]).verdict).toBe("illegal");
    for (const operation of failing) {
      const oneMore = failing.map((other) => (other === operation ? relax(other) : other));
      expect(checkOperations(registerModel, [...oneMore, ...others]).verdict).toBe("ok");
    }
  }

  it("minimizes a stale read to the operations that conflict", () => {
    const history: Operation<RegisterInput, unknown>[] = [
      done(1, write(1), 0, 1, undefined),
      done(2, read, 2, 3, 1),
      done(3, read, 2, 4, 1),
      done(1, write(2), 4, 5, undefined),
      done(3, read, 8, 9, 1), // stale: write(2) completed before this call
      done(1, write(3), 12, 13, undefined),
      done(3, read, 14, 15, 3),
      done(2, read, 14, 16, 3),
    ];
    const result = checkOperations(registerModel, history);
    expect(result.verdict).toBe("illegal");
    // Read 1, then write(2) completes, then read 1 again: write(1) is not
    // kept, yet the witness never blames a read for a write that was dropped.
    expect(result.failing!.operations).toEqual([history[1], history[3], history[4]]);
    expectOneMinimal(history, result.failing!.operations);
  });

  it("minimizes a longer history to a 1-minimal witness", () => {
    const history: Operation<RegisterInput, unknown>[] = [
      done(1, write(1), 0, 1, undefined),
      done(2, read, 2, 3, 1),
      done(1, write(2), 4, 5, undefined),
      done(2, read, 6, 7, 2),
      done(3, read, 8, 9, 1),
      done(2, read, 10, 11, 2),
      done(1, write(3), 12, 13, undefined),
      done(3, read, 14, 15, 3),
    ];
    const { failing } = checkOperations(registerModel, history);
    expect(failing!.operations.length).toBe(3);
    expectOneMinimal(history, failing!.operations);
  });

  it("explains the failure readably", () => {
    const history = [
      done(1, write(1), 0, 1, undefined),
      done(2, read, 2, 3, 1),
      done(1, write(2), 4, 5, undefined),
      done(3, read, 8, 9, 1),
      done(3, read, 10, 11, 2),
    ];
    const { explanation } = checkOperations(registerModel, history).failing!;
    expect(explanation).toMatchInlineSnapshot(`
      "Not linearizable: no order of these 3 operations agrees with both the model and real time.
      Operations (by call time):
        #1 client 1, called 4, returned 5: write(2)
        #2 client 3, called 8, returned 9: read() -> 1
        #3 client 3, called 10, returned 11: read() -> 2
      That holds whatever the other 2 operations of this partition did: each is taken as
      having happened at any time after its call, or never. Those the order below uses are marked ~.
      Longest legal order found, from state absent:
        #1 write(2)  => 2
        ~ write(1) (called 0)  => 1
        #2 read() -> 1  => 1
      Then none of the remaining operations can go next:
        #3 read() -> 2: not legal in state 1"
    `);
  });
});

describe("checkOperations input validation", () => {
  const noUnknown: Model<string, RegisterInput, unknown> = { ...registerModel };
  delete noUnknown.stepUnknown;

  it.each<[string, Model<string, RegisterInput, unknown>, Operation<RegisterInput, unknown>[], RegExp]>([
    ["a return before the call", registerModel, [done(1, read, 5, 4, null)], /returns at 4, before its call at 5/],
    ["a NaN call time", registerModel, [done(1, read, Number.NaN, 4, null)], /callTime NaN/],
    ["an indeterminate op without stepUnknown", noUnknown, [lost(1, read, 0)], /no stepUnknown/],
  ])("rejects %s", (_, model, history, message) => {
    expect(() => checkOperations(model, history)).toThrow(message);
  });

  it("rejects a negative budget", () => {
    expect(() => checkOperations(registerModel, [], { timeBudgetMs: -1 })).toThrow(/timeBudgetMs/);
  });
});
