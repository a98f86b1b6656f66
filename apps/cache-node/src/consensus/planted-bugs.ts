import { asLogIndex } from "@distcache/raft";
import type { CommandOp } from "./consensus-port.js";
import type { GroupMessage } from "../peer/wire/peer-wire.js";
import type { CommandResult, ShardStateMachine } from "../state-machine/shard-state-machine.js";

/*
 * The consensus side of two planted bugs (config/testing-switches.ts), on only with
 * --testing: each makes the node break a guarantee on purpose, so the chaos harness can
 * prove it catches the break.
 */

/**
 * ack-before-commit: the answer a leader gives a write it has only proposed, guessed from
 * its replica as it stands (the next revision, the counter plus the delta). Undefined for
 * operations the guess does not cover; those wait for their commit as usual.
 */
export function guessedResult(op: CommandOp, machine: ShardStateMachine): CommandResult | undefined {
  const nowMs = machine.lastStampMs;
  const store = machine.store;
  switch (op.case) {
    case "set":
      return { type: "set", result: { ok: true, version: store.revision + 1 } };
    case "delete":
      return { type: "delete", deleted: store.peek(op.value.key, nowMs) !== undefined };
    case "incr": {
      const current = store.peek(op.value.key, nowMs);
      const base = current === undefined ? 0n : BigInt(new TextDecoder().decode(current.value));
      return { type: "incr", result: { ok: true, value: base + op.value.delta, version: store.revision + 1 } };
    }
    default:
      return undefined;
  }
}

/**
 * stale-read-index: per group and follower, the first read index this leader gave it in
 * its term, given again for every later request of that term, so reads on the follower
 * may miss writes acknowledged since.
 */
export class StaleReadIndexes {
  private readonly first = new Map<string, { term: number; index: number }>();

  /** The message with its read index replaced, if it is a ReadIndex answer. */
  rewrite(sent: GroupMessage): GroupMessage {
    const { message } = sent;
    if (message.type !== "readIndexResp") return sent;
    const index = this.answer(`${sent.group}/${message.to}`, message.term, message.index);
    return index === message.index ? sent : { ...sent, message: { ...message, index: asLogIndex(index) } };
  }

  /** The index to answer a follower's ReadIndex with, instead of index. */
  answer(follower: string, term: number, index: number): number {
    const kept = this.first.get(follower);
    if (kept !== undefined && kept.term === term) return kept.index;
    this.first.set(follower, { term, index });
    return index;
  }
}
