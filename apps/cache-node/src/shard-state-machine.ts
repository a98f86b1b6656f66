import { fromBinary } from "@bufbuild/protobuf";
import { CommandSchema, SetCondition as WireCondition, EvictionPolicy as WirePolicy, type Command, type SetOp } from "@distcache/proto/raft";
import { operationRefusal, sessionRefusal, stampRefusal } from "./command-validation.js";
import { SessionTable } from "./session-table.js";
import { Store, type EvictionPolicy, type IncrResult, type SetCondition, type SetResult } from "@distcache/store";

/** Version of the replica snapshot layout: header chunk, sessions chunk, then the store. */
const SNAPSHOT_FORMAT = 3;
/** Format 2 had no refusal count in its header; it is still read. */
const SNAPSHOT_FORMAT_V2 = 2;
const HEADER_BYTES = 25;
const HEADER_BYTES_V2 = 17;

const WRITE_OPS = new Set(["set", "delete", "incr", "mset", "mdelete"]);

/** What applying one command produced; the proposer turns it into the API response. */
export type CommandResult =
  | { type: "none" }
  | { type: "set"; result: SetResult }
  | { type: "delete"; deleted: boolean }
  | { type: "incr"; result: IncrResult }
  | { type: "mset"; versions: number[] }
  | { type: "mdelete"; deleted: number }
  /**
   * A command that changed nothing: a session's write already acknowledged and forgotten,
   * one of too many in flight, one naming a session the shard has forgotten ("expired"),
   * or a command that breaks the protocol's rules ("invalid", with the reason).
   */
  | { type: "refused"; reason: "forgotten" | "too-many" | "expired" }
  | { type: "refused"; reason: "invalid"; message: string };

const CONDITIONS: Record<WireCondition, SetCondition> = {
  [WireCondition.UNSPECIFIED]: "none",
  [WireCondition.IF_ABSENT]: "if_absent",
  [WireCondition.IF_VERSION]: "if_version",
};

const POLICIES: Partial<Record<WirePolicy, EvictionPolicy>> = {
  [WirePolicy.LRU]: "lru",
  [WirePolicy.LFU]: "lfu",
  [WirePolicy.FIFO]: "fifo",
  [WirePolicy.RANDOM]: "random",
};

/**
 * A point-in-time snapshot of the replica: a header chunk (format version, applied
 * index, last stamp), the session table, then the store's chunks, encoded lazily.
 * Writes applied after the capture do not change what it yields.
 */
export interface ReplicaSnapshot {
  readonly index: number;
  chunks(): Iterable<Uint8Array>;
}

/** A replica's state decoded from a snapshot, ready to install. */
export interface RestoredShard {
  readonly index: number;
  readonly lastStampMs: number;
  readonly refusedCount: number;
  readonly sessions: SessionTable;
  readonly store: Store;
}

export interface ShardRestorer {
  push(chunk: Uint8Array): void;
  finish(): RestoredShard;
}

/**
 * The replicated state machine of one shard: it applies committed commands to the
 * shard's store. It never reads a clock: "now" is the command's stamp, so every
 * replica that applies the same log reaches the same state (DESIGN invariant 2).
 */
export class ShardStateMachine {
  private appliedIndexValue = 0;
  private lastStampMsValue = 0;
  /** Commands refused as invalid: replicated state (in digests and snapshots), so replicas prove they refused the same ones. */
  private refusedCountValue = 0;
  private sessions = new SessionTable();

  constructor(
    readonly shard: number,
    private storeValue: Store,
  ) {}

  get store(): Store {
    return this.storeValue;
  }

  /** The replica's snapshot, captured at once. */
  snapshot(): ReplicaSnapshot {
    const capture = this.snapshotCapture();
    capture.step(Number.MAX_SAFE_INTEGER);
    return capture.snapshot();
  }

  /**
   * The same snapshot as snapshot(), captured a bounded number of keys per step so a
   * large shard never holds the event loop long. Nothing may be applied to the replica
   * from the first step to the last (the host holds the group back meanwhile).
   */
  snapshotCapture(): { step(keysMax: number): boolean; snapshot(): ReplicaSnapshot } {
    const index = this.appliedIndexValue;
    const header = new Uint8Array(HEADER_BYTES);
    const view = new DataView(header.buffer);
    view.setUint8(0, SNAPSHOT_FORMAT);
    view.setFloat64(1, index);
    view.setFloat64(9, this.lastStampMsValue);
    view.setFloat64(17, this.refusedCountValue);
    const sessions = new TextEncoder().encode(this.sessions.serialize());
    const capture = this.storeValue.snapshotCapture();
    return {
      step: (keysMax) => {
        if (this.appliedIndexValue !== index) throw new Error(`shard ${this.shard}: entries were applied during a snapshot capture`);
        return capture.step(keysMax);
      },
      snapshot: () => {
        const store = capture.snapshot();
        return {
          index,
          chunks: function* () {
            yield header;
            yield sessions;
            yield* store.chunks();
          },
        };
      },
    };
  }

  /** Replaces the replica's state with a snapshot's; throws on a damaged or foreign one. */
  restore(chunks: readonly Uint8Array[]): void {
    const restorer = this.restorer();
    for (const chunk of chunks) restorer.push(chunk);
    this.install(restorer.finish());
  }

  /**
   * Decodes a snapshot one chunk at a time (each push is a short step, so a host can
   * yield to its event loop between chunks) into state that install() then swaps in
   * at once. The replica keeps serving its current state meanwhile. Throws on a
   * damaged or foreign snapshot.
   */
  restorer(): ShardRestorer {
    let header: { index: number; lastStampMs: number; refusedCount: number } | undefined;
    let sessions: SessionTable | undefined;
    const store = Store.restorer(this.storeValue.options);
    return {
      push: (chunk) => {
        if (header === undefined) header = this.decodeHeader(chunk); else if (sessions === undefined) {
          sessions = SessionTable.deserialize(new TextDecoder().decode(chunk), this.sessions.limits);
        } else store.push(chunk);
      },
      finish: () => {
        if (header === undefined || sessions === undefined) throw new Error(`shard ${this.shard}: snapshot ends before its store`);
        return { ...header, sessions, store: store.finish() };
      },
    };
  }

  private decodeHeader(chunk: Uint8Array): { index: number; lastStampMs: number; refusedCount: number } {
    const v2 = chunk.length === HEADER_BYTES_V2 && chunk[0] === SNAPSHOT_FORMAT_V2;
    if (!v2 && (chunk.length !== HEADER_BYTES || chunk[0] !== SNAPSHOT_FORMAT)) throw new Error(`shard ${this.shard}: not a state machine snapshot`);
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    return { index: view.getFloat64(1), lastStampMs: view.getFloat64(9), refusedCount: v2 ? 0 : view.getFloat64(17) };
  }

  /** Swaps in state a restorer prepared. */
  install(state: RestoredShard): void {
    this.sessions = state.sessions;
    this.storeValue = state.store;
    this.appliedIndexValue = state.index;
    this.lastStampMsValue = state.lastStampMs;
    this.refusedCountValue = state.refusedCount;
  }

  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /** The latest stamp applied: local reads judge expiry against max(local clock, this). */
  get lastStampMs(): number {
    return this.lastStampMsValue;
  }

  /** Records an entry that carries no command (a new leader's empty entry) at `index`. */
  skip(index: number): void {
    if (index !== this.appliedIndexValue + 1) {
      throw new Error(`shard ${this.shard}: skip index ${index} after ${this.appliedIndexValue} (gap or replay)`);
    }
    this.appliedIndexValue = index;
  }

  /**
   * Applies the command at log index `index`; indexes must arrive in order without gaps.
   * Total over its input (DESIGN invariant 8): bytes that do not decode, or a command
   * that breaks the protocol's rules, change nothing but the applied index and the
   * refusal count, and yield a "refused" result, the same on every replica. Only a
   * programmer error can make it throw.
   */
  apply(index: number, bytes: Uint8Array, term = 1): CommandResult {
    if (index !== this.appliedIndexValue + 1) {
      throw new Error(`shard ${this.shard}: apply index ${index} after ${this.appliedIndexValue} (gap or replay)`);
    }
    const command = decodeCommand(bytes);
    const result = command === undefined ? this.refuse("the entry is not a decodable command") : this.applyCommand(command, index, term);
    this.appliedIndexValue = index;
    return result;
  }

  private applyCommand(command: Command, index: number, term: number): CommandResult {
    // Checked before anything changes: a refused command without a session leaves no
    // trace but its count; one with a valid session is recorded there, so its retry gets
    // the same answer.
    const header = stampRefusal(command) ?? sessionRefusal(command);
    if (header !== undefined) return this.refuse(header);
    const invalid = operationRefusal(command, this.store.options);
    const sessioned = command.sessionId !== "" && WRITE_OPS.has(command.op.case ?? "");
    if (invalid !== undefined && !sessioned) return this.refuse(invalid);
    const nowMs = this.advanceTime(command, index, term);
    if (!sessioned) return this.applyOp(command, nowMs);
    // Exactly once: a retried write finds the result of its first application (or refusal).
    const sequence = Number(command.sequence);
    const lookup = this.sessions.begin(command.sessionId, sequence, Number(command.ackedSequence), nowMs);
    if (lookup.kind === "done") return lookup.result;
    if (lookup.kind !== "new") return { type: "refused", reason: lookup.kind };
    const result = invalid === undefined ? this.applyOp(command, nowMs) : this.refuse(invalid);
    this.sessions.record(command.sessionId, sequence, result);
    return result;
  }

  /** Moves the replica to the command's time and runs the store's bounded sweep; returns "now". */
  private advanceTime(command: Command, index: number, term: number): number {
    // Stamps never go backwards, even if a leader's clock does (the leader also ensures this).
    const nowMs = Math.max(Number(command.stampMs), this.lastStampMsValue);
    this.lastStampMsValue = nowMs;
    // Random eviction is seeded from the log position so every replica picks the same victim.
    this.store.reseed(mixSeed(term, index));
    this.store.sweep(nowMs);
    return nowMs;
  }

  private refuse(message: string): CommandResult {
    this.refusedCountValue++;
    return { type: "refused", reason: "invalid", message };
  }

  private applyOp(command: Command, nowMs: number): CommandResult {
    const op = command.op;
    switch (op.case) {
      case undefined:
      case "noop":
        return { type: "none" };
      case "set":
        return { type: "set", result: this.applySet(op.value, nowMs) };
      case "delete":
        return { type: "delete", deleted: this.store.delete(op.value.key, nowMs) };
      case "incr":
        return { type: "incr", result: this.store.incr(op.value.key, op.value.delta, nowMs) };
      case "mset":
        return { type: "mset", versions: op.value.items.map((item) => versionOf(this.applySet(item, nowMs))) };
      case "mdelete": {
        let deleted = 0;
        for (const key of op.value.keys) if (this.store.delete(key, nowMs)) deleted++;
        return { type: "mdelete", deleted };
      }
      case "access":
        this.store.touch(op.value.keys, nowMs);
        return { type: "none" };
      case "configure": {
        const policy = POLICIES[op.value.policy];
        this.store.configure(
          {
            ...(policy ? { policy } : {}),
            ...(op.value.entriesMax > 0n ? { entriesMax: Number(op.value.entriesMax) } : {}),
            ...(op.value.bytesMax > 0n ? { bytesMax: Number(op.value.bytesMax) } : {}),
          },
          nowMs,
        );
        return { type: "none" };
      }
    }
  }

  private applySet(op: SetOp, nowMs: number): SetResult {
    return this.store.set(
      op.key,
      op.value,
      {
        text: op.text,
        expireAtMs: op.ttlMs > 0n ? nowMs + Number(op.ttlMs) : 0,
        condition: CONDITIONS[op.condition],
        expectedVersion: Number(op.expectedVersion),
      },
      nowMs,
    );
  }

  /** Replica fingerprint: equal on every replica that applied the same log. */
  digest(): string {
    return `${this.appliedIndexValue}:${this.lastStampMsValue}:${this.refusedCountValue}:${this.store.digest()}:${fnv1a(this.sessions.serialize())}`;
  }
}

/** The command in an entry's bytes, or undefined when they are not one. */
function decodeCommand(bytes: Uint8Array): Command | undefined {
  try {
    return fromBinary(CommandSchema, bytes);
  } catch {
    return undefined;
  }
}

function versionOf(result: SetResult): number {
  return result.ok ? result.version : 0;
}

/** A 32-bit seed from (term, index), mixed so neighbouring indexes give unrelated seeds. */
export function mixSeed(term: number, index: number): number {
  let h = Math.imul(term ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index >>> 0, 0xc2b2ae35) ^ Math.floor(index / 2 ** 32);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units: a compact fingerprint of the session table for digests. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
