import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { CommandSchema, type EvictionPolicy, type SetCondition } from "@distcache/proto/raft";
import { Store } from "@distcache/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ShardStateMachine } from "./shard-state-machine.js";
import type { ChangeEvent } from "./watch-history.js";

// Apply must be total and deterministic (invariant 8 of docs/design.md): whatever a log holds, every
// replica applies it without throwing and reaches the same state, and so does a replica
// restored from a snapshot taken part way. The log here is random Commands over every
// field (stamps, sessions, extreme integers, unknown enum numbers, empty, long and
// lone-surrogate strings, duplicate keys, huge TTLs, extreme store bounds), plus entries
// that are not commands at all and entries that carry no command (skip).

type CommandInit = MessageInitShape<typeof CommandSchema>;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const INT64_EXTREMES = [0n, -1n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, INT64_MAX, INT64_MIN];
const UINT64_EXTREMES = [0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, UINT64_MAX];
const ENUM_NUMBERS = [0, 1, 2, 3, 4, 5, 99, -1, 2 ** 31 - 1, -(2 ** 31)];
const LONE_SURROGATES = ["\ud800", "\udfff", "a\udc00b", "\ud83d", "\udc00\ud800"];

const int64 = fc.oneof(fc.constantFrom(...INT64_EXTREMES), fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }));
const uint64 = fc.oneof(fc.constantFrom(...UINT64_EXTREMES), fc.bigInt({ min: 0n, max: 12n }), fc.bigInt({ min: 0n, max: UINT64_MAX }));
const enumNumber = fc.oneof(fc.constantFrom(...ENUM_NUMBERS), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));

/** Keys: mostly a few that collide (so writes, conditions and counters interact), and hostile ones. */
const key = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom("a", "b", "c", "d", "counter", "é", "漢", "🙂") },
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("k".repeat(1024), "k".repeat(65_536), "k".repeat(65_537), "é".repeat(40_000)) },
  { weight: 1, arbitrary: fc.constantFrom(...LONE_SURROGATES) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
);

/** Values: small, empty, a decimal counter, and above a small shard's byte bound. */
const value = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 32 }) },
  { weight: 2, arbitrary: fc.constantFrom("0", "-1", "9223372036854775807", "-9223372036854775808", "12abc", " 7").map((s) => new TextEncoder().encode(s)) },
  { weight: 1, arbitrary: fc.constantFrom(5000, 70_000).map((n) => new Uint8Array(n).fill(7)) },
);

const ttl = fc.oneof({ weight: 4, arbitrary: fc.constant(0n) }, { weight: 3, arbitrary: fc.bigInt({ min: 1n, max: 5000n }) }, { weight: 2, arbitrary: int64 });

const setOp = fc.record({
  key,
  value,
  text: fc.boolean(),
  ttlMs: ttl,
  condition: enumNumber.map((n) => n as SetCondition),
  expectedVersion: uint64,
});

/** Duplicate keys now and then: a batch naming one key twice. */
const keyList = fc.array(key, { maxLength: 6 }).chain((keys) => (keys.length > 0 ? fc.constantFrom(keys, [...keys, keys[0]!]) : fc.constant(keys)));

const op = fc.oneof(
  fc.constant(undefined),
  fc.constant({ case: "noop" as const, value: {} }),
  fc.nat(2 ** 32 - 1).map((sweepRounds) => ({ case: "noop" as const, value: { sweepRounds } })),
  setOp.map((value) => ({ case: "set" as const, value })),
  key.map((k) => ({ case: "delete" as const, value: { key: k } })),
  fc.record({ key, delta: int64 }).map((value) => ({ case: "incr" as const, value })),
  fc
    .array(setOp, { maxLength: 5 })
    .chain((items) => (items.length > 0 ? fc.constantFrom(items, [...items, { ...items[0]!, value: new Uint8Array([1]) }]) : fc.constant(items)))
    .map((items) => ({ case: "mset" as const, value: { items } })),
  keyList.map((keys) => ({ case: "mdelete" as const, value: { keys } })),
  keyList.map((keys) => ({ case: "access" as const, value: { keys } })),
  fc
    .record({ policy: enumNumber.map((n) => n as EvictionPolicy), entriesMax: uint64, bytesMax: fc.oneof(uint64, fc.constantFrom(1n, 64n, 100n, 4096n)) })
    .map((value) => ({ case: "configure" as const, value })),
);

/** Stamps: mostly a clock moving forward (so TTLs and idle sessions expire), sometimes anything. */
const stamp = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1_700_000_000_000n, max: 1_700_000_100_000n }) },
  { weight: 1, arbitrary: fc.constantFrom(...INT64_EXTREMES, 2n ** 53n - 1n - 3_153_600_000_000n, 2n ** 53n - 3_153_600_000_000n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 1_700_000_000_000n + 11n * 60_000n, max: 1_700_000_000_000n + 30n * 60_000n }) },
);

const session = fc.oneof(
  { weight: 5, arbitrary: fc.constant("") },
  { weight: 5, arbitrary: fc.constantFrom("s1", "s2", "s3") },
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(128), "x".repeat(129), "é".repeat(64), "x".repeat(200_000), ...LONE_SURROGATES) },
);
const sequence = fc.oneof({ weight: 5, arbitrary: fc.bigInt({ min: 0n, max: 8n }) }, { weight: 1, arbitrary: uint64 });

const command: fc.Arbitrary<CommandInit> = fc.record({ stampMs: stamp, sessionId: session, sequence, ackedSequence: sequence, op });

/** Protobuf bytes of a Command whose SetOp key is not UTF-8 (fields 11 and 1, hand-encoded). */
const invalidUtf8Key = fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xe2, 0x82]).map((bad) => {
  const setOpBytes = [0x0a, bad.length, ...bad];
  return Uint8Array.from([0x08, 0x01, 0x5a, setOpBytes.length, ...setOpBytes]);
});

type Entry = { kind: "command"; init: CommandInit; bytes: Uint8Array; term: number } | { kind: "raw"; bytes: Uint8Array; term: number } | { kind: "skip" };

/** Entries print as their description in counterexamples, not as their bytes. */
function printable(e: Entry): Entry {
  return Object.defineProperty(e, fc.toStringMethod, { value: () => describeEntry(e), enumerable: false });
}

const commandEntry = (init: CommandInit, term: number): Entry =>
  printable({ kind: "command", init, bytes: toBinary(CommandSchema, create(CommandSchema, init)), term });

const entry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 16, arbitrary: fc.record({ init: command, term: fc.integer({ min: 1, max: 4 }) }).map(({ init, term }) => commandEntry(init, term)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => printable({ kind: "raw", bytes, term: 1 })) },
  { weight: 1, arbitrary: invalidUtf8Key.map((bytes) => printable({ kind: "raw", bytes, term: 1 })) },
  { weight: 1, arbitrary: fc.constant(null).map(() => printable({ kind: "skip" })) },
);

/** A small shard, so bounds, eviction and the 64 KiB-class values are all in play. */
const machine = () => new ShardStateMachine(3, new Store({ entriesMax: 20, bytesMax: 16 * 1024 }));

function describeEntry(e: Entry): string {
  if (e.kind === "skip") return "skip";
  if (e.kind === "raw") return `raw bytes [${[...e.bytes].join(",")}]`;
  return JSON.stringify(e.init, (_k, v: unknown) =>
    typeof v === "bigint"
      ? `${v}n`
      : v instanceof Uint8Array
        ? `<${v.length} bytes>`
        : typeof v === "string" && v.length > 40
          ? `${v.slice(0, 20)}…(${v.length})`
          : v,
  );
}

function step(m: ShardStateMachine, index: number, e: Entry, who: string): void {
  try {
    if (e.kind === "skip") m.skip(index);
    else m.apply(index, e.bytes, e.term);
  } catch (err) {
    throw new Error(`replica ${who} threw at index ${index} on ${describeEntry(e)}: ${(err as Error).message}`, { cause: err });
  }
}

/** Applies the log to two replicas and, from its midpoint, to a third restored from the first's snapshot; digests must agree after every entry. */
function check(log: Entry[], cut: number): void {
  const a = machine();
  const b = machine();
  let c: ShardStateMachine | undefined;
  const at = Math.min(cut, log.length);
  log.forEach((e, i) => {
    const index = i + 1;
    if (i === at) {
      c = machine();
      const chunks = [...a.snapshot().chunks()];
      c.restore(chunks);
      expect(c.digest(), `restored replica after index ${i}`).toBe(a.digest());
    }
    step(a, index, e, "a");
    step(b, index, e, "b");
    if (c) step(c, index, e, "c (restored)");
    expect(b.digest(), `replica b after index ${index}: ${describeEntry(e)}`).toBe(a.digest());
    if (c) expect(c.digest(), `restored replica after index ${index}: ${describeEntry(e)}`).toBe(a.digest());
  });
  // Watchers see the same change events from every replica; a restored one holds those after its snapshot.
  expect(events(b)).toEqual(events(a));
  if (c) expect(events(c)).toEqual(events(a).filter((event) => event.index > at));
}

function events(m: ShardStateMachine): ChangeEvent[] {
  const held = m.history.after(m.history.floor, Number.MAX_SAFE_INTEGER);
  if (held === "compacted") throw new Error("a history compacted below its own floor");
  return held;
}

describe("ShardStateMachine under random logs", () => {
  for (const seed of [20_240_611, 7, 424_242]) {
    it(`never throws and replicas (one restored from a snapshot) agree after every entry (seed ${seed})`, () => {
      fc.assert(
        fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), fc.nat(40), (log, cut) => check(log, cut)),
        { seed, numRuns: 150 },
      );
    });
  }

  it("survives long logs of mostly valid writes on a few keys", () => {
    const validCommand = fc.record({
      stampMs: fc.bigInt({ min: 1_700_000_000_000n, max: 1_700_000_050_000n }),
      sessionId: fc.constantFrom("", "s1", "s2"),
      op: fc.oneof(
        setOp.map((v) => ({
          case: "set" as const,
          value: {
            ...v,
            key: v.key.slice(0, 4) || "a",
            value: v.value.slice(0, 32),
            condition: 0 as SetCondition,
            expectedVersion: 0n,
            ttlMs: v.ttlMs < 0n ? 0n : v.ttlMs % 5000n,
          },
        })),
        fc.record({ key: fc.constantFrom("a", "counter"), delta: fc.bigInt({ min: -5n, max: 5n }) }).map((value) => ({ case: "incr" as const, value })),
        fc.constantFrom("a", "b", "c").map((k) => ({ case: "delete" as const, value: { key: k } })),
      ),
    });
    // Session writes need increasing sequences: number them as the log goes.
    const longLog = fc.array(fc.record({ init: validCommand, term: fc.integer({ min: 1, max: 3 }) }), { minLength: 100, maxLength: 300 }).map((items) => {
      const next = new Map<string, bigint>();
      return items.map(({ init, term }): Entry => {
        const seq = init.sessionId ? (next.get(init.sessionId) ?? 0n) + 1n : 0n;
        if (init.sessionId) next.set(init.sessionId, seq);
        return commandEntry({ ...init, sequence: seq, ackedSequence: seq > 2n ? seq - 2n : 0n }, term);
      });
    });
    fc.assert(
      fc.property(longLog, fc.nat(300), (log, cut) => check(log, cut)),
      { seed: 99, numRuns: 25 },
    );
  });
});
