import type { Entry } from "../entry.js";
import type { LogIndex } from "../types.js";

/**
 * The replicated state machine the simulator's clients use: registers (write a
 * value, read it) and counters (increment, get). Commands carry the id of the
 * client operation that issued them, so the host can answer its client.
 */
export type KvCommand =
  | { readonly opId: number; readonly kind: "write"; readonly key: string; readonly value: string }
  | { readonly opId: number; readonly kind: "incr"; readonly key: string; readonly delta: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

/** A stable identity for an entry's payload, for the safety checkers. */
export function entryIdentity(entry: Entry): string {
  if (entry.kind === "noop") return "noop";
  return entry.kind === "config" ? `config:${decoder.decode(entry.data)}` : decoder.decode(entry.data);
}

/** A state-machine snapshot: an immutable copy of everything applied up to `applied`. */
export interface KvSnapshot {
  readonly applied: LogIndex;
  readonly registers: ReadonlyMap<string, string>;
  readonly counters: ReadonlyMap<string, number>;
}

export class KvStateMachine {
  private readonly registers: Map<string, string>;
  private readonly counters: Map<string, number>;
  private appliedIndex: LogIndex;

  constructor(from?: KvSnapshot) {
    this.registers = new Map(from?.registers);
    this.counters = new Map(from?.counters);
    this.appliedIndex = from?.applied ?? (0 as LogIndex);
  }

  snapshot(): KvSnapshot {
    return { applied: this.appliedIndex, registers: new Map(this.registers), counters: new Map(this.counters) };
  }

  get applied(): LogIndex {
    return this.appliedIndex;
  }

  /** Applies one committed entry; returns the command and its output (the new counter value for incr). */
  apply(entry: Entry): { command: KvCommand; output: number | undefined } | undefined {
    if (entry.index !== this.appliedIndex + 1) {
      throw new Error(`state machine applied ${this.appliedIndex} but was given entry ${entry.index}`);
    }
    this.appliedIndex = entry.index;
    // Membership lives in the Raft core; the state machine just moves past it.
    if (entry.kind !== "command") return undefined;
    const command = decodeCommand(entry.data);
    if (command.kind === "write") {
      this.registers.set(command.key, command.value);
      return { command, output: undefined };
    }
    const value = (this.counters.get(command.key) ?? 0) + command.delta;
    this.counters.set(command.key, value);
    return { command, output: value };
  }

  readRegister(key: string): string | null {
    return this.registers.get(key) ?? null;
  }

  readCounter(key: string): number {
    return this.counters.get(key) ?? 0;
  }
}

/** A canonical rendering of a snapshot's contents, for checking that replicas agree. */
export function snapshotDigest(snapshot: KvSnapshot): string {
  const registers = [...snapshot.registers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const counters = [...snapshot.counters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([registers, counters]);
}
