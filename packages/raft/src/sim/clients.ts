import type { CounterInput, CounterOutput, Operation, RegisterInput, RegisterOutput } from "@distcache/linearizability";
import type { SeededRandom } from "../random.js";
import type { NodeId } from "../types.js";
import type { ClientOptions } from "./options.js";
import { TIME_UNITS_PER_TICK } from "./options.js";

export type RegisterOperationInput = RegisterInput & { readonly key: string };
export type CounterOperationInput = CounterInput & { readonly key: string };

export type OpKind = "write" | "read" | "incr" | "get";

/** One client request in flight. A client runs one at a time, as linearizability assumes. */
export interface ClientOp {
  readonly id: number;
  readonly clientId: number;
  readonly kind: OpKind;
  readonly key: string;
  readonly value: string;
  readonly delta: number;
  readonly callTime: number;
  readonly deadline: number;
  node: NodeId | undefined;
}

export interface ClientState {
  readonly id: number;
  pending: ClientOp | undefined;
  leaderGuess: NodeId | undefined;
}

const REGISTER_KEYS = ["r0", "r1", "r2", "r3", "r4"];
const COUNTER_KEYS = ["c0", "c1", "c2"];

/**
 * The clients' side of the simulation: it makes up requests and records each
 * one's outcome in a history for the linearizability checker. Determinate
 * operations carry their return time; a write whose outcome is unknown (timeout,
 * crash of the node that took it) is recorded as indeterminate; a read whose
 * outcome is unknown is left out, as it changed nothing.
 */
export class ClientPool {
  readonly clients: ClientState[];
  private readonly registerOps: Operation<RegisterOperationInput, RegisterOutput>[] = [];
  private readonly counterOps: Operation<CounterOperationInput, CounterOutput>[] = [];
  /** Indeterminate writes later proven never to have taken effect. */
  private readonly pruned = new Set<object>();
  /** The history entry of each indeterminate write, by op id, until its fate is known. */
  private readonly unresolved = new Map<number, object>();
  /** When each pending write's entry was first applied, by op id, until its client finishes. */
  private readonly appliedAt = new Map<number, { readonly time: number; readonly output: number | undefined }>();
  private readonly options: ClientOptions;
  private readonly random: SeededRandom;
  private nextOpId = 1;
  completedWrites = 0;
  completedReads = 0;
  indeterminate = 0;

  constructor(options: ClientOptions, random: SeededRandom) {
    this.options = options;
    this.random = random;
    this.clients = Array.from({ length: options.clientCount + 1 }, (_, id) => ({ id, pending: undefined, leaderGuess: undefined }));
  }

  /** The extra client the liveness phase drives. */
  get livenessClient(): ClientState {
    return this.clients[this.clients.length - 1]!;
  }

  get regularClients(): readonly ClientState[] {
    return this.clients.slice(0, -1);
  }

  newOp(client: ClientState, now: number, kind?: OpKind, key?: string, deadline?: number): ClientOp {
    const counter = this.random.chance(this.options.counterRatio);
    const read = this.random.chance(this.options.readRatio);
    const chosenKind = kind ?? (counter ? (read ? "get" : "incr") : read ? "read" : "write");
    const id = this.nextOpId++;
    const op: ClientOp = {
      id,
      clientId: client.id,
      kind: chosenKind,
      key: key ?? this.random.pick(chosenKind === "incr" || chosenKind === "get" ? COUNTER_KEYS : REGISTER_KEYS),
      value: `v${id}`,
      delta: this.random.between(1, 5),
      callTime: now,
      deadline: deadline ?? now + this.options.timeoutTicks * TIME_UNITS_PER_TICK,
      node: undefined,
    };
    client.pending = op;
    return op;
  }

  /** The op returned `output` at `now`. */
  complete(op: ClientOp, output: string | number | null | undefined, now: number): void {
    this.appliedAt.delete(op.id);
    if (!this.finish(op)) return;
    if (op.kind === "write" || op.kind === "incr") this.completedWrites += 1;
    else this.completedReads += 1;
    this.record(op, now, output);
  }

  /** The op certainly did not take effect (rejected, or its entry was overwritten). */
  discard(op: ClientOp): void {
    this.appliedAt.delete(op.id);
    this.finish(op);
  }

  /** The outcome is unknown to the client: writes may or may not have happened. */
  abandon(op: ClientOp): void {
    if (!this.finish(op)) return;
    if (op.kind === "read" || op.kind === "get") return;
    const applied = this.appliedAt.get(op.id);
    this.appliedAt.delete(op.id);
    if (applied !== undefined) {
      // Already known to have taken effect, with this output (see `settle`).
      this.record(op, applied.time, applied.output);
      return;
    }
    this.indeterminate += 1;
    this.unresolved.set(op.id, this.record(op, undefined, undefined));
  }

  /**
   * The simulator learned that an abandoned write never took effect: the index
   * it was proposed at committed a different entry. Dropping it from the
   * history is sound (a linearization could only ever omit it) and keeps the
   * checker's search small.
   */
  prune(opId: number): void {
    const operation = this.unresolved.get(opId);
    if (operation === undefined) return;
    this.unresolved.delete(opId);
    this.pruned.add(operation);
    this.indeterminate -= 1;
  }

  /**
   * The write took effect: its entry was first applied (so committed) at
   * `now`, and the state machine computed `output` for it (what its client
   * would have been told). Even if the client gave up, the write then counts
   * as completed at `now` with that output: any operation that starts later
   * must observe it, since a committed entry is in every later leader's log
   * and below its read index (paper §5.4, thesis §6.4). This only adds
   * constraints (a stricter check), and keeps the checker's search small.
   */
  settle(opId: number, now: number, output: number | undefined): void {
    const operation = this.unresolved.get(opId) as { returnTime: number | undefined; output: unknown } | undefined;
    if (operation === undefined) {
      this.appliedAt.set(opId, { time: now, output });
      return;
    }
    this.unresolved.delete(opId);
    operation.returnTime = now;
    operation.output = output;
    this.indeterminate -= 1;
  }

  get registerHistory(): Operation<RegisterOperationInput, RegisterOutput>[] {
    return this.registerOps.filter((operation) => !this.pruned.has(operation));
  }

  get counterHistory(): Operation<CounterOperationInput, CounterOutput>[] {
    return this.counterOps.filter((operation) => !this.pruned.has(operation));
  }

  private finish(op: ClientOp): boolean {
    const client = this.clients[op.clientId]!;
    if (client.pending !== op) return false;
    client.pending = undefined;
    return true;
  }

  private record(op: ClientOp, returnTime: number | undefined, output: string | number | null | undefined): object {
    const base = { clientId: op.clientId, callTime: op.callTime, returnTime };
    switch (op.kind) {
      case "write":
        return push(this.registerOps, { ...base, input: { kind: "write", value: op.value, key: op.key }, output: undefined });
      case "read":
        return push(this.registerOps, { ...base, input: { kind: "read", key: op.key }, output: returnTime === undefined ? undefined : output });
      case "incr":
        return push(this.counterOps, { ...base, input: { kind: "incr", delta: op.delta, key: op.key }, output: output as number | undefined });
      case "get":
        return push(this.counterOps, { ...base, input: { kind: "get", key: op.key }, output: output as number | undefined });
    }
  }

  /** Pause before a client's next request, in time units. */
  thinkTimeUnits(): number {
    return this.random.between(1, this.options.thinkTicksMax * TIME_UNITS_PER_TICK + 1);
  }

  randomTarget(): boolean {
    return this.random.chance(this.options.randomTargetRate);
  }
}

function push<T extends object>(list: T[], item: T): T {
  list.push(item);
  return item;
}
