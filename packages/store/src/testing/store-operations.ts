// Test-only: random operation sequences for property tests, and a driver that
// applies them to the real Store or to the ReferenceStore with the same clock.
import fc from "fast-check";
import { EVICTION_POLICIES, type EvictionPolicy } from "../eviction-order.js";
import type { StoreOptions } from "../store-options.js";
import type { IncrResult, SetCondition, SetOptions, SetResult } from "../store.js";

export const KEYS = ["a", "b", "c", "d", "e", "f", "é", "😀"] as const;
/** Largest entry the arbitraries produce: 4-byte key + 24-byte value + overhead. */
export const ENTRY_BYTES_LARGEST = 4 + 24 + 128;
export const START_MS = 1_000;

export type Operation =
  | {
      kind: "set";
      key: string;
      value: Uint8Array;
      text: boolean;
      ttlMs: number | undefined;
      condition: SetCondition;
      expectedVersion: number;
      advanceMs: number;
    }
  | { kind: "delete"; key: string; advanceMs: number }
  | { kind: "incr"; key: string; delta: bigint; advanceMs: number }
  | { kind: "touch"; keys: string[]; advanceMs: number }
  | { kind: "sweep"; advanceMs: number }
  | { kind: "configure"; policy: EvictionPolicy | undefined; entriesMax: number | undefined; bytesMax: number | undefined; advanceMs: number }
  | { kind: "reseed"; seed: number; advanceMs: number };

/** What both the Store and the ReferenceStore offer for apply-time operations. */
export interface ApplyTarget {
  set(key: string, value: Uint8Array, options: SetOptions, nowMs: number): SetResult;
  delete(key: string, nowMs: number): boolean;
  incr(key: string, delta: bigint, nowMs: number): IncrResult;
  touch(keys: readonly string[], nowMs: number): void;
  sweep(nowMs: number): number;
  configure(options: { policy?: EvictionPolicy; entriesMax?: number; bytesMax?: number }, nowMs: number): string[];
  reseed(seed: number): void;
}

const boundaryCounters = [0n, 1n, -1n, 41n, 2n ** 63n - 1n, 2n ** 63n - 2n, -(2n ** 63n), -(2n ** 63n) + 1n, 2n ** 62n];

const key = fc.constantFrom(...KEYS);
const counterText = fc.oneof(
  fc.constantFrom(...boundaryCounters).map((value) => value.toString()),
  fc.integer({ min: -50, max: 50 }).map(String),
  fc.constantFrom("007", "-0", "+1", " 1", "", "9223372036854775808", "1e3"),
);
const value = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  counterText.map((text) => new TextEncoder().encode(text)),
);
const delta = fc.oneof(fc.constantFrom(...boundaryCounters), fc.bigInt({ min: -100n, max: 100n }));
const advanceMs = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12 }));
const policy = fc.constantFrom(...EVICTION_POLICIES);
const entriesMax = fc.integer({ min: 1, max: 6 });
const bytesMax = fc.integer({ min: ENTRY_BYTES_LARGEST, max: ENTRY_BYTES_LARGEST * 5 });

const setOperation = fc.record({
  kind: fc.constant("set" as const),
  key,
  value,
  text: fc.boolean(),
  ttlMs: fc.option(fc.integer({ min: -5, max: 40 }), { nil: undefined }),
  condition: fc.constantFrom<SetCondition>("none", "none", "if_absent", "if_version"),
  expectedVersion: fc.integer({ min: 0, max: 12 }),
  advanceMs,
});

export const operation: fc.Arbitrary<Operation> = fc.oneof(
  { arbitrary: setOperation, weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant("delete" as const), key, advanceMs }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("incr" as const), key, delta, advanceMs }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("touch" as const), keys: fc.array(key, { maxLength: 4 }), advanceMs }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("sweep" as const), advanceMs }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("configure" as const),
      policy: fc.option(policy, { nil: undefined }),
      entriesMax: fc.option(entriesMax, { nil: undefined }),
      bytesMax: fc.option(bytesMax, { nil: undefined }),
      advanceMs,
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant("reseed" as const), seed: fc.integer(), advanceMs }), weight: 1 },
);

export const operations = fc.array(operation, { maxLength: 60 });

export type StoreConfig = Required<Pick<StoreOptions, "policy" | "entriesMax" | "bytesMax" | "sweepKeysMax" | "lfuHalvingIntervalAccesses" | "seed">>;

export const storeConfig: fc.Arbitrary<StoreConfig> = fc.record({
  policy,
  entriesMax,
  bytesMax,
  sweepKeysMax: fc.integer({ min: 1, max: 3 }),
  lfuHalvingIntervalAccesses: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12 })),
  seed: fc.integer(),
});

/** Applies one operation at `nowMs`; returns what the target returned. */
export function applyOperation(target: ApplyTarget, op: Operation, nowMs: number): unknown {
  switch (op.kind) {
    case "set": {
      const expireAtMs = op.ttlMs === undefined ? 0 : Math.max(1, nowMs + op.ttlMs);
      return target.set(op.key, op.value, { text: op.text, expireAtMs, condition: op.condition, expectedVersion: op.expectedVersion }, nowMs);
    }
    case "delete":
      return target.delete(op.key, nowMs);
    case "incr":
      return target.incr(op.key, op.delta, nowMs);
    case "touch":
      return target.touch(op.keys, nowMs);
    case "sweep":
      return target.sweep(nowMs);
    case "configure":
      return target.configure(withoutUndefined({ policy: op.policy, entriesMax: op.entriesMax, bytesMax: op.bytesMax }), nowMs);
    case "reseed":
      return target.reseed(op.seed);
  }
}

/** Applies a sequence from START_MS; returns each result and the final clock. */
export function applyAll(target: ApplyTarget, ops: readonly Operation[], startMs = START_MS): { results: unknown[]; nowMs: number } {
  let nowMs = startMs;
  const results: unknown[] = [];
  for (const op of ops) {
    nowMs += op.advanceMs;
    results.push(applyOperation(target, op, nowMs));
  }
  return { results, nowMs };
}

function withoutUndefined<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, field]) => field !== undefined)) as Partial<T>;
}
