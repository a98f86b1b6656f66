import { SetCondition as WireCondition, EvictionPolicy as WirePolicy, type Command, type SetOp } from "@distcache/proto/raft";
import { decodeCommand } from "./command-codec.js";
import { operationRefusal, sessionRefusal, STAMP_MS_MAX, stampRefusal } from "./command-validation.js";
import { SESSION_START_AHEAD_MS_MAX, SessionTable } from "./session-table.js";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { SNAPSHOT_CHUNK_BYTES_MAX as SNAPSHOT_FILE_CHUNK_BYTES_MAX } from "@distcache/raft/snapshot";
import type { PlantedBug } from "../config/testing-switches.js";
import { HISTORY_LIMITS_DEFAULT, WatchHistory, type HistoryLimits } from "./watch-history.js";
import {
  snapshotChunkBytesMax,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  Store,
  type EvictionPolicy,
  type IncrResult,
  type SetCondition,
  type SetResult,
  type StoreChange,
} from "@distcache/store";

/** The most sweep steps one noop runs: 50 steps of the default 20 keys are 1,000 expirations. */
export const NOOP_SWEEP_ROUNDS_MAX = 50;
/**
 * Version of the replica snapshot layout: a header chunk (format, applied index, last
 * stamp, refusal count, number of session chunks), the session table's chunks, then the
 * store's; a chunk longer than SNAPSHOT_CHUNK_BYTES_MAX travels as fragments.
 */
const SNAPSHOT_FORMAT = 4;
/** Format 3 had the whole session table in one chunk and no count in its header; it is still read. */
const SNAPSHOT_FORMAT_V3 = 3;
/** Format 2 had no refusal count in its header either; it is still read. */
const SNAPSHOT_FORMAT_V2 = 2;
const HEADER_BYTES = 29;
const HEADER_BYTES_V3 = 25;
const HEADER_BYTES_V2 = 17;

/**
 * The longest chunk a replica snapshot yields: what its file, its transfer frames and the
 * peer transport must take (snapshot-wire.ts and peer-transport.ts derive their limits
 * from it). A longer piece (a store chunk holding one very large value) is sent as a
 * fragments chunk followed by its fragments, each at most this long.
 */
export const SNAPSHOT_CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/**
 * The longest store chunk a snapshot can hold: the target size, or the largest entry
 * the protocol allows (a 64 KiB key and a 64 MiB value) alone. A fragments chunk
 * announcing more is damage.
 */
export const STORE_CHUNK_BYTES_MAX = snapshotChunkBytesMax(SNAPSHOT_CHUNK_BYTES_DEFAULT, PROTOCOL_LIMITS.keyBytesMax, PROTOCOL_LIMITS.valueBytesMax);
/** First byte of a fragments chunk (a store chunk starts with its format version 1, a session chunk with "{"). */
const FRAGMENTS_MARK = 0xfe;
/** A fragments chunk: the mark, the fragment count (u32) and the whole piece's length (u32). */
const FRAGMENTS_CHUNK_BYTES = 9;
/** Session-table pieces hashed per step of digestCapture, at most, per key the step may take. */
const DIGEST_PIECES_PER_KEY = 1;

if (SNAPSHOT_CHUNK_BYTES_MAX > SNAPSHOT_FILE_CHUNK_BYTES_MAX) throw new Error("replica snapshot chunks must fit the snapshot file's chunk limit");

const WRITE_OPS = new Set(["set", "delete", "incr", "mset", "mdelete"]);

/** What applying one command produced; the proposer turns it into the API response. */
export type CommandResult =
  | { type: "none" }
  | { type: "set"; result: WriteOutcome<SetResult> }
  | { type: "delete"; deleted: boolean }
  | { type: "incr"; result: WriteOutcome<IncrResult> }
  | { type: "mset"; versions: number[] }
  | { type: "mdelete"; deleted: number }
  /**
   * A command that changed nothing: a session's write already acknowledged and forgotten,
   * one of too many in flight, one naming a session the shard has forgotten ("expired"),
   * or a command that breaks the protocol's rules ("invalid", with the reason).
   */
  | { type: "refused"; reason: "forgotten" | "too-many" }
  /** A new session must begin after startedAfterMs. */
  | { type: "refused"; reason: "expired"; startedAfterMs: number }
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
 * A store write's result as a command reports it and a session keeps it: without the
 * keys the write evicted, which no answer uses (a session holds up to 1,024 results).
 */
export type WriteOutcome<T> = T extends { evicted: string[] } ? Omit<T, "evicted"> : T;

/**
 * The bytes in a buffer of their own. A decoded value is a view into the buffer its entry
 * arrived in (a peer frame of up to hundreds of KiB, or a block of the log read at start):
 * stored as it is, one small value would keep that whole buffer alive.
 */
function ownBytes(value: Uint8Array): Uint8Array {
  return value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
}

/**
 * A point-in-time snapshot of the replica: a header chunk (format version, applied
 * index, last stamp), the session table, then the store's chunks, encoded lazily.
 * No chunk is longer than SNAPSHOT_CHUNK_BYTES_MAX.
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

/** A digest of the replica computed in steps (see ShardStateMachine.digestCapture). */
export interface DigestCapture {
  /** The applied index the digest is taken at. */
  readonly index: number;
  /** Takes up to keysMax more keys (or session pieces) of the replica; true once all are taken. Nothing may be applied meanwhile. */
  step(keysMax: number): boolean;
  /** After the last step (applies may resume): hashes a bounded part of what was taken; the digest once all is hashed. */
  hash(): string | undefined;
}

interface SnapshotHeaderFields {
  index: number;
  lastStampMs: number;
  refusedCount: number;
  /** How many chunks the session table takes (one before format 4). */
  sessionChunks: number;
}

/**
 * The replicated state machine of one shard: it applies committed commands to the
 * shard's store. It never reads a clock: "now" is the command's stamp, so every
 * replica that applies the same log reaches the same state (invariant 2 of docs/design.md).
 */
export class ShardStateMachine {
  private appliedIndexValue = 0;
  private lastStampMsValue = 0;
  /** Commands refused as invalid: replicated state (in digests and snapshots), so replicas prove they refused the same ones. */
  private refusedCountValue = 0;
  private sessions = new SessionTable();
  /** The replica's recent change events (what Watch streams), produced at apply. */
  readonly history: WatchHistory;
  /** The entry being applied, and how many events it produced so far. */
  private applying = { index: 0, ordinal: 0 };
  private readonly recordChange = (change: StoreChange): void => {
    const { index, ordinal } = this.applying;
    this.applying.ordinal++;
    this.history.append(change.kind === "put" ? { index, ordinal, kind: "put", key: change.key, entry: change.entry } : { index, ordinal, ...change });
  };

  constructor(
    readonly shard: number,
    private storeValue: Store,
    /** Planted bugs (test-only, config/testing-switches.ts); none on a production node. */
    private readonly bugs: ReadonlySet<PlantedBug> = new Set(),
    historyLimits: HistoryLimits = HISTORY_LIMITS_DEFAULT,
  ) {
    this.history = new WatchHistory(historyLimits);
    storeValue.observe(this.recordChange);
  }

  get store(): Store {
    return this.storeValue;
  }

  /** The replica's snapshot, captured at once. */
  snapshot(): ReplicaSnapshot {
    const capture = this.snapshotCapture();
    while (!capture.step(Number.MAX_SAFE_INTEGER));
    return capture.snapshot();
  }

  /**
   * The same snapshot as snapshot(), captured a bounded number of keys per step so a
   * large shard never holds the event loop long. Nothing may be applied to the replica
   * from the first step to the last (the host holds its applies back meanwhile). The
   * session table is encoded during the first steps, one chunk per step.
   */
  snapshotCapture(): { step(keysMax: number): boolean; snapshot(): ReplicaSnapshot } {
    const index = this.appliedIndexValue;
    const lastStampMs = this.lastStampMsValue;
    const refusedCount = this.refusedCountValue;
    const encoder = new TextEncoder();
    const sessionTexts = this.sessions.chunks();
    const sessions: Uint8Array[] = [];
    let sessionsDone = false;
    const capture = this.storeValue.snapshotCapture();
    return {
      step: (keysMax) => {
        if (this.appliedIndexValue !== index) throw new Error(`shard ${this.shard}: entries were applied during a snapshot capture`);
        if (!sessionsDone) {
          const next = sessionTexts.next();
          if (next.done !== true) {
            sessions.push(encoder.encode(next.value));
            return false;
          }
          sessionsDone = true;
        }
        return capture.step(keysMax);
      },
      snapshot: () => {
        if (!sessionsDone) throw new Error(`shard ${this.shard}: snapshot() before the capture's last step`);
        const store = capture.snapshot();
        const header = encodeHeader({ index, lastStampMs, refusedCount, sessionChunks: sessions.length });
        return {
          index,
          chunks: function* () {
            yield header;
            for (const chunk of sessions) yield* bounded(chunk);
            for (const chunk of store.chunks()) yield* bounded(chunk);
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
    let header: (SnapshotHeaderFields & { format: number }) | undefined;
    const sessions = SessionTable.restorer(this.sessions.limits);
    let sessionChunksRead = 0;
    const store = Store.restorer(this.storeValue.options);
    const decoder = new TextDecoder();
    let fragments: { count: number; bytes: number; parts: Uint8Array[] } | undefined;
    const take = (chunk: Uint8Array): void => {
      if (header === undefined) header = this.decodeHeader(chunk);
      else if (sessionChunksRead < header.sessionChunks) {
        sessions.push(decoder.decode(chunk));
        sessionChunksRead++;
      } else store.push(chunk);
    };
    return {
      push: (chunk) => {
        if (fragments !== undefined) {
          if (chunk.length > SNAPSHOT_CHUNK_BYTES_MAX) throw new Error(`shard ${this.shard}: a snapshot fragment of ${chunk.length} bytes`);
          fragments.parts.push(chunk);
          if (fragments.parts.length < fragments.count) return;
          const whole = Buffer.concat(fragments.parts);
          if (whole.length !== fragments.bytes)
            throw new Error(`shard ${this.shard}: snapshot fragments of ${whole.length} bytes announced as ${fragments.bytes}`);
          fragments = undefined;
          return take(whole);
        }
        if (header?.format === SNAPSHOT_FORMAT && chunk[0] === FRAGMENTS_MARK) {
          fragments = this.decodeFragments(chunk);
          return;
        }
        take(chunk);
      },
      finish: () => {
        if (header === undefined || sessionChunksRead < header.sessionChunks || fragments !== undefined)
          throw new Error(`shard ${this.shard}: snapshot ends before its store`);
        const { index, lastStampMs, refusedCount } = header;
        return { index, lastStampMs, refusedCount, sessions: sessions.finish(), store: store.finish() };
      },
    };
  }

  private decodeHeader(chunk: Uint8Array): SnapshotHeaderFields & { format: number } {
    const format = chunk[0] ?? 0;
    // A later format than this build knows is not damage: refuse it in so many words (no rolling upgrades before 1.0).
    if (format > SNAPSHOT_FORMAT && format < 0x20) {
      throw new SnapshotFormatError(
        `shard ${this.shard}: a replica snapshot of format ${format}; this build writes format ${SNAPSHOT_FORMAT} and reads formats 2 to ${SNAPSHOT_FORMAT}`,
      );
    }
    const length =
      format === SNAPSHOT_FORMAT ? HEADER_BYTES : format === SNAPSHOT_FORMAT_V3 ? HEADER_BYTES_V3 : format === SNAPSHOT_FORMAT_V2 ? HEADER_BYTES_V2 : -1;
    if (chunk.length !== length) throw new Error(`shard ${this.shard}: not a state machine snapshot`);
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const sessionChunks = format === SNAPSHOT_FORMAT ? view.getUint32(25) : 1;
    if (sessionChunks === 0) throw new Error(`shard ${this.shard}: a snapshot without its session table`);
    const fields = {
      format,
      index: view.getFloat64(1),
      lastStampMs: view.getFloat64(9),
      refusedCount: format === SNAPSHOT_FORMAT_V2 ? 0 : view.getFloat64(17),
      sessionChunks,
    };
    // A damaged header must never be installed: apply trusts these as it trusts its own state.
    const count = (v: number) => Number.isSafeInteger(v) && v >= 0;
    if (!count(fields.index) || !count(fields.refusedCount) || !count(fields.lastStampMs) || fields.lastStampMs > STAMP_MS_MAX) {
      throw new Error(`shard ${this.shard}: a snapshot header with an index, stamp or count out of range`);
    }
    return fields;
  }

  private decodeFragments(chunk: Uint8Array): { count: number; bytes: number; parts: Uint8Array[] } {
    if (chunk.length !== FRAGMENTS_CHUNK_BYTES) throw new Error(`shard ${this.shard}: a malformed snapshot fragments chunk`);
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const count = view.getUint32(1);
    const bytes = view.getUint32(5);
    if (bytes <= SNAPSHOT_CHUNK_BYTES_MAX || bytes > STORE_CHUNK_BYTES_MAX || count !== Math.ceil(bytes / SNAPSHOT_CHUNK_BYTES_MAX)) {
      throw new Error(`shard ${this.shard}: snapshot fragments of ${bytes} bytes in ${count} parts`);
    }
    return { count, bytes, parts: [] };
  }

  /** Swaps in state a restorer prepared. */
  install(state: RestoredShard): void {
    this.storeValue.observe(undefined);
    this.sessions = state.sessions;
    this.storeValue = state.store;
    this.storeValue.observe(this.recordChange);
    this.history.reset(state.index);
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
   * Total over its input (invariant 8 of docs/design.md): bytes that do not decode, or a command
   * that breaks the protocol's rules, change nothing but the applied index and the
   * refusal count, and yield a "refused" result, the same on every replica. Only a
   * programmer error can make it throw.
   */
  apply(index: number, bytes: Uint8Array, term = 1): CommandResult {
    if (index !== this.appliedIndexValue + 1) {
      throw new Error(`shard ${this.shard}: apply index ${index} after ${this.appliedIndexValue} (gap or replay)`);
    }
    const command = decodeCommand(bytes);
    this.applying = { index, ordinal: 0 };
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
    const lookup = this.sessions.begin(command.sessionId, sequence, Number(command.ackedSequence), Number(command.sessionStartedMs), nowMs);
    if (lookup.kind === "done") {
      // Planted bug incr-twice (test-only): a retried Incr is applied again.
      return this.bugs.has("incr-twice") && command.op.case === "incr" ? this.applyOp(command, nowMs) : lookup.result;
    }
    if (lookup.kind === "ahead")
      return this.refuse(
        `session_started_ms ${command.sessionStartedMs} is more than ${SESSION_START_AHEAD_MS_MAX} ms ahead of the shard's time ${nowMs}; ` +
          "check the client's clock",
      );
    if (lookup.kind === "expired") return { type: "refused", reason: "expired", startedAfterMs: lookup.startedAfterMs };
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
        return { type: "none" };
      case "noop":
        // advanceTime ran one sweep step already; a noop may ask for more (bounded here, so apply stays short).
        for (let round = 1; round < Math.min(op.value.sweepRounds, NOOP_SWEEP_ROUNDS_MAX) && this.store.sweep(nowMs) > 0; round++);
        return { type: "none" };
      case "set":
        return { type: "set", result: withoutEvicted(this.applySet(op.value, nowMs)) };
      case "delete":
        return { type: "delete", deleted: this.store.delete(op.value.key, nowMs) };
      case "incr":
        return { type: "incr", result: withoutEvicted(this.store.incr(op.value.key, op.value.delta, nowMs)) };
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
      ownBytes(op.value),
      {
        text: op.text,
        expireAtMs: op.ttlMs > 0n ? nowMs + Number(op.ttlMs) : 0,
        condition: CONDITIONS[op.condition],
        expectedVersion: Number(op.expectedVersion),
      },
      nowMs,
    );
  }

  /**
   * Replica fingerprint: equal on every replica that applied the same log, and on one
   * restored from a snapshot of it. O(keys) in one go: a host computes it with
   * digestCapture() instead.
   */
  digest(): string {
    return `${this.appliedIndexValue}:${this.lastStampMsValue}:${this.refusedCountValue}:${this.store.digest()}:${this.sessions.digest()}`;
  }

  /**
   * The same string as digest(), in bounded steps: step(keysMax) until it returns true
   * takes the session table's hash and references to the store's entries (nothing may
   * be applied to the replica meanwhile: the host holds its applies back), then hash()
   * until it returns the digest hashes the captured entries, about
   * DIGEST_STEP_COST_DEFAULT bytes per call, while the replica applies again.
   */
  digestCapture(): DigestCapture {
    const index = this.appliedIndexValue;
    const prefix = `${index}:${this.lastStampMsValue}:${this.refusedCountValue}`;
    const capture = this.storeValue.snapshotCapture();
    let sessionSteps: Generator<void, string, void> | undefined;
    let sessionsHex: string | undefined;
    let storeSteps: Generator<void, string, void> | undefined;
    return {
      index,
      step: (keysMax) => {
        if (this.appliedIndexValue !== index) throw new Error(`shard ${this.shard}: entries were applied during a digest capture`);
        if (sessionsHex === undefined) {
          sessionSteps ??= this.sessions.digestSteps(Math.max(1, keysMax * DIGEST_PIECES_PER_KEY));
          const next = sessionSteps.next();
          if (next.done !== true) return false;
          sessionsHex = next.value;
        }
        return capture.step(keysMax);
      },
      hash: () => {
        if (sessionsHex === undefined) throw new Error(`shard ${this.shard}: hash() before the digest capture's last step`);
        storeSteps ??= capture.snapshot().digestSteps();
        const next = storeSteps.next();
        return next.done === true ? `${prefix}:${next.value}:${sessionsHex}` : undefined;
      },
    };
  }
}

function encodeHeader(fields: SnapshotHeaderFields): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint8(0, SNAPSHOT_FORMAT);
  view.setFloat64(1, fields.index);
  view.setFloat64(9, fields.lastStampMs);
  view.setFloat64(17, fields.refusedCount);
  view.setUint32(25, fields.sessionChunks);
  return header;
}

/** A chunk as it goes into a snapshot: itself, or a fragments chunk and its fragments (views, not copies). */
function* bounded(chunk: Uint8Array): Generator<Uint8Array, void, void> {
  if (chunk.length <= SNAPSHOT_CHUNK_BYTES_MAX) {
    yield chunk;
    return;
  }
  const count = Math.ceil(chunk.length / SNAPSHOT_CHUNK_BYTES_MAX);
  const mark = new Uint8Array(FRAGMENTS_CHUNK_BYTES);
  const view = new DataView(mark.buffer);
  view.setUint8(0, FRAGMENTS_MARK);
  view.setUint32(1, count);
  view.setUint32(5, chunk.length);
  yield mark;
  for (let offset = 0; offset < chunk.length; offset += SNAPSHOT_CHUNK_BYTES_MAX) yield chunk.subarray(offset, offset + SNAPSHOT_CHUNK_BYTES_MAX);
}

/** A store result without the keys its write evicted. */
function withoutEvicted<T extends SetResult | IncrResult>(result: T): WriteOutcome<T> {
  if (!result.ok) return result as WriteOutcome<T>;
  const { evicted: _evicted, ...outcome } = result;
  return outcome as WriteOutcome<T>;
}

/** A snapshot of a format this build does not read: the node stops rather than skip it. */
export class SnapshotFormatError extends Error {
  override name = "SnapshotFormatError";
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
