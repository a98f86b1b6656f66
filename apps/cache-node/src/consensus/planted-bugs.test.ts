import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { CommandSchema, DeleteOpSchema, IncrOpSchema, NoopSchema, SetOpSchema } from "@distcache/proto/raft";
import { asLogIndex, asNodeId, asTerm } from "@distcache/raft";
import { Store } from "@distcache/store";
import { describe, expect, it } from "vitest";
import type { GroupMessage } from "../peer/wire/peer-wire.js";
import { ShardStateMachine } from "../state-machine/shard-state-machine.js";
import { StaleReadIndexes, guessedResult } from "./planted-bugs.js";

// The planted bugs must really break their guarantee, or a chaos run that "catches" them
// proves nothing; and without them, the same paths must keep it.

type CommandInit = MessageInitShape<typeof CommandSchema>;
const text = (s: string) => new TextEncoder().encode(s);
const encode = (init: CommandInit) => toBinary(CommandSchema, create(CommandSchema, { stampMs: 1000n, ...init }));
const incr = (sequence: bigint): CommandInit => ({ sessionId: "s1", sequence, sessionStartedMs: 900n, op: { case: "incr", value: { key: "c", delta: 1n } } });

describe("planted bug incr-twice", () => {
  it("applies a retried Incr again, where a correct replica answers from the session", () => {
    const correct = new ShardStateMachine(0, new Store({}));
    const planted = new ShardStateMachine(0, new Store({}), new Set(["incr-twice"]));
    for (const machine of [correct, planted]) {
      machine.apply(1, encode(incr(1n)));
      machine.apply(2, encode(incr(1n)));
    }
    expect(new TextDecoder().decode(correct.store.peek("c", 1000)!.value)).toBe("1");
    expect(new TextDecoder().decode(planted.store.peek("c", 1000)!.value)).toBe("2");
  });

  it("leaves other retried writes to the session", () => {
    const planted = new ShardStateMachine(0, new Store({}), new Set(["incr-twice"]));
    const set: CommandInit = { sessionId: "s1", sequence: 1n, sessionStartedMs: 900n, op: { case: "set", value: { key: "k", value: text("v") } } };
    const first = planted.apply(1, encode(set));
    expect(planted.apply(2, encode(set))).toEqual(first);
    expect(planted.store.revision).toBe(1);
  });
});

describe("planted bug ack-before-commit", () => {
  it("guesses the answer a write would get from the replica as it stands", () => {
    const machine = new ShardStateMachine(0, new Store({}));
    machine.apply(1, encode({ op: { case: "incr", value: { key: "c", delta: 5n } } }));
    expect(guessedResult({ case: "incr", value: create(IncrOpSchema, { key: "c", delta: 2n }) }, machine)).toMatchObject({
      type: "incr",
      result: { ok: true, value: 7n, version: 2 },
    });
    expect(guessedResult({ case: "set", value: create(SetOpSchema, { key: "k" }) }, machine)).toMatchObject({ type: "set", result: { ok: true, version: 2 } });
    expect(guessedResult({ case: "delete", value: create(DeleteOpSchema, { key: "c" }) }, machine)).toEqual({ type: "delete", deleted: true });
    expect(guessedResult({ case: "noop", value: create(NoopSchema) }, machine)).toBeUndefined();
  });
});

describe("planted bug stale-read-index", () => {
  const answer = (group: number, to: string, term: number, index: number): GroupMessage => ({
    group,
    message: { type: "readIndexResp", from: asNodeId("n1"), to: asNodeId(to), term: asTerm(term), context: new Uint8Array(8), index: asLogIndex(index) },
  });

  it("answers each follower's later ReadIndex requests of a term with its first index", () => {
    const stale = new StaleReadIndexes();
    const indexOf = (m: GroupMessage) => (m.message.type === "readIndexResp" ? Number(m.message.index) : -1);
    expect(indexOf(stale.rewrite(answer(1, "n2", 3, 10)))).toBe(10);
    expect(indexOf(stale.rewrite(answer(1, "n2", 3, 25)))).toBe(10);
    // Another follower, another group, or a new term starts afresh.
    expect(indexOf(stale.rewrite(answer(1, "n3", 3, 25)))).toBe(25);
    expect(indexOf(stale.rewrite(answer(2, "n2", 3, 26)))).toBe(26);
    expect(indexOf(stale.rewrite(answer(1, "n2", 4, 30)))).toBe(30);
  });

  it("passes every other message through untouched", () => {
    const stale = new StaleReadIndexes();
    const heartbeat = { group: 1, message: { type: "heartbeat", from: asNodeId("n1"), to: asNodeId("n2"), term: asTerm(3), commit: asLogIndex(4) } };
    expect(stale.rewrite(heartbeat as unknown as GroupMessage)).toBe(heartbeat);
  });
});
