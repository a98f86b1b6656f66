import { assert, isSafeIntegerAtLeast, StoreAssertionError } from "./assert.js";
import { DigestHasher } from "./byte-sink.js";
import { COUNTER_MAX, COUNTER_MIN, formatCounter, parseCounter } from "./counter.js";
import { convertEvictionOrder, createEvictionOrder, type EvictionOrderDependencies } from "./create-eviction-order.js";
import { entryBytes } from "./entry-bytes.js";
import { isExpired, type Entry } from "./entry.js";
import type { EvictionOrder, EvictionPolicy } from "./eviction-order.js";
import { ExpiryHeap } from "./expiry-heap.js";
import { LfuOrder } from "./lfu-order.js";
import { Prng } from "./prng.js";
import { writeEntry, writeHeader, type SnapshotEntry, type SnapshotHeader } from "./snapshot-format.js";
import { checkBounds, lfuHalvingIntervalOf, resolveStoreOptions, type ResolvedStoreOptions, type StoreOptions } from "./store-options.js";
import { StoreSnapshotError } from "./store-snapshot-error.js";
import {
  CapturedSnapshot,
  SnapshotDecoder,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  SNAPSHOT_CHUNK_ENTRIES_DEFAULT,
  SNAPSHOT_CHUNK_ENTRIES_LIMIT,
  type StoreSnapshot,
} from "./store-snapshot.js";

export type SetCondition = "none" | "if_absent" | "if_version";

export interface SetOptions {
  /** The value is UTF-8 text (read back as text). Default false. */
  text?: boolean;
  /** Absolute Unix ms; 0 or absent = no expiry. At or before nowMs = expires at once. */
  expireAtMs?: number;
  /** Default "none". */
  condition?: SetCondition;
  /** For "if_version": the live version required; 0 means "must be absent". */
  expectedVersion?: number;
}

export type SetResult = { ok: true; version: number; evicted: string[] } | { ok: false; reason: "exists" | "version_mismatch"; currentVersion: number };

export type IncrResult = { ok: true; value: bigint; version: number; evicted: string[] } | { ok: false; reason: "not_integer" | "overflow" };

/**
 * One change an apply-time call made, in the order it made them: a write ("put", with the
 * entry written), a client's delete, an expiry removed by the sweep or met by a write, or
 * an eviction to respect the bounds. Reads never produce one.
 */
export type StoreChange = { kind: "put"; key: string; entry: Entry } | { kind: "delete" | "expire" | "evict"; key: string };

export interface StoreStats {
  /** get() calls that found a live entry (local to this replica: reads are not replicated). */
  hits: number;
  /** get() calls that found nothing live (local to this replica). */
  misses: number;
  /** Entries removed to respect a bound (replicated). */
  evictions: number;
  /** Entries removed because they expired, by sweep or when a write met them (replicated). */
  expirations: number;
  /** Stored entries, including expired ones that no sweep or write has removed yet. */
  keys: number;
  /** Accounted bytes of the stored entries (see entryBytes). */
  bytes: number;
}

export interface ConfigureOptions {
  policy?: EvictionPolicy;
  entriesMax?: number;
  bytesMax?: number;
}

/** One stored entry with its place in the eviction order (see Store.orderedEntries). */
export interface OrderedEntry {
  readonly key: string;
  readonly entry: Entry;
  /** LFU count; 0 for other policies. */
  readonly frequency: number;
}

/**
 * The keyspace of one shard: a deterministic state machine. Every replica applies
 * the same writes with the same `nowMs` stamps (from the log) and so reaches the
 * same state, down to eviction victims. It never reads a clock, a random source or
 * any I/O; time is a parameter and randomness a seeded Prng whose state is part of
 * the snapshot.
 *
 * Reads (peek, get) never change replicated state: they treat expired entries as
 * absent without removing them and leave recency and frequency alone. Apply-time
 * calls (set, delete, incr, touch, configure, sweep) first run one bounded sweep
 * step, then act, then evict per policy until both bounds hold.
 */
export class Store {
  private settings: ResolvedStoreOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly expiry = new ExpiryHeap();
  private readonly prng: Prng;
  private order: EvictionOrder;
  private revisionCounter = 0;
  private bytesTotal = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private expirations = 0;
  private changeSink: ((change: StoreChange) => void) | undefined;

  constructor(options?: Partial<StoreOptions>) {
    this.settings = resolveStoreOptions(options);
    this.prng = new Prng(this.settings.seed);
    this.order = createEvictionOrder(this.settings.policy, this.orderDependencies());
  }

  /** The current settings: configure() and reseed() replace them. */
  get options(): ResolvedStoreOptions {
    return this.settings;
  }

  /** Stored entries, including expired ones not yet removed. */
  get size(): number {
    return this.entries.size;
  }

  /** The shard revision: the version given to the latest successful write. */
  get revision(): number {
    return this.revisionCounter;
  }

  /** The live entry under `key` at `nowMs`, with no side effect at all. */
  peek(key: string, nowMs: number): Entry | undefined {
    const entry = this.entries.get(key);
    return entry === undefined || isExpired(entry, nowMs) ? undefined : entry;
  }

  /** Like peek, and counts a hit or a miss in the local stats. */
  get(key: string, nowMs: number): Entry | undefined {
    const entry = this.peek(key, nowMs);
    if (entry === undefined) this.misses++;
    else this.hits++;
    return entry;
  }

  /**
   * Writes `key` at `nowMs` (the log entry's stamp). Asserts entryBytes(key, value) <=
   * bytesMax: the host rejects oversized writes before proposing them. On success the
   * entry's version is the new shard revision and `evicted` lists the keys given up
   * to respect the bounds (never `key` itself). An expireAtMs at or before nowMs
   * succeeds (consuming a version) and leaves the key absent, counted as an expiration.
   */
  set(key: string, value: Uint8Array, options: SetOptions, nowMs: number): SetResult {
    const expireAtMs = options.expireAtMs ?? 0;
    const condition = options.condition ?? "none";
    const expectedVersion = options.expectedVersion ?? 0;
    assert(value instanceof Uint8Array, "Store.set: value must be a Uint8Array");
    assert(isSafeIntegerAtLeast(expireAtMs, 0), "Store.set: expireAtMs must be a safe integer >= 0");
    assert(isSafeIntegerAtLeast(expectedVersion, 0), "Store.set: expectedVersion must be a safe integer >= 0");
    const sizeBytes = entryBytes(key, value);
    assert(sizeBytes <= this.settings.bytesMax, "Store.set: entry larger than bytesMax (the host must reject it)");
    this.sweep(nowMs);
    const current = this.liveEntry(key, nowMs);
    const refusal = refuseByCondition(condition, expectedVersion, current);
    if (refusal !== undefined) return refusal;
    const version = ++this.revisionCounter;
    if (expireAtMs !== 0 && expireAtMs <= nowMs) {
      if (current !== undefined) this.removeEntry(key, "expire");
      this.expirations++;
      return { ok: true, version, evicted: [] };
    }
    this.put(key, { value, text: options.text ?? false, version, expireAtMs }, current, sizeBytes);
    return { ok: true, version, evicted: this.evictToBounds(key) };
  }

  /**
   * Removes a live key; true when one was removed (and the revision advanced). An
   * expired key still stored is removed as an expiration, and the answer is false.
   */
  delete(key: string, nowMs: number): boolean {
    this.sweep(nowMs);
    if (this.liveEntry(key, nowMs) === undefined) return false;
    this.removeEntry(key, "delete");
    this.revisionCounter++;
    return true;
  }

  /**
   * Adds `delta` (a signed 64-bit integer) to the counter under `key`, stored as
   * canonical decimal ASCII text. An absent key starts at 0 with no expiry; a live one
   * keeps its expiry. A value that is not a canonical decimal int64 is "not_integer";
   * a result outside [-2^63, 2^63 - 1] is "overflow". Neither writes anything (the
   * sweep step has still run).
   */
  incr(key: string, delta: bigint, nowMs: number): IncrResult {
    assert(typeof delta === "bigint" && delta >= COUNTER_MIN && delta <= COUNTER_MAX, "Store.incr: delta must be a signed 64-bit bigint");
    this.sweep(nowMs);
    const current = this.liveEntry(key, nowMs);
    const base = current === undefined ? 0n : parseCounter(current.value);
    if (base === undefined) return { ok: false, reason: "not_integer" };
    const next = base + delta;
    if (next < COUNTER_MIN || next > COUNTER_MAX) return { ok: false, reason: "overflow" };
    const value = formatCounter(next);
    const sizeBytes = entryBytes(key, value);
    assert(sizeBytes <= this.settings.bytesMax, "Store.incr: entry larger than bytesMax (the host must reject it)");
    const version = ++this.revisionCounter;
    this.put(key, { value, text: true, version, expireAtMs: current?.expireAtMs ?? 0 }, current, sizeBytes);
    return { ok: true, value: next, version, evicted: this.evictToBounds(key) };
  }

  /**
   * Applies access hints in order: LRU moves each key to most recent, LFU counts one
   * access per occurrence; FIFO and Random ignore hints. Absent and expired keys are
   * skipped. Hints change no value, version or revision.
   */
  touch(keys: readonly string[], nowMs: number): void {
    this.sweep(nowMs);
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry !== undefined && !isExpired(entry, nowMs)) this.order.access(key);
    }
  }

  /** Whether some stored key has expired at nowMs and waits for a sweep (or a write) to remove it. */
  hasExpired(nowMs: number): boolean {
    return this.expiry.due(nowMs) !== undefined;
  }

  /**
   * One bounded active-expiry step: removes at most sweepKeysMax entries due at
   * nowMs, earliest (expireAtMs, then key) first. Returns how many it removed.
   */
  sweep(nowMs: number): number {
    assert(isSafeIntegerAtLeast(nowMs, 0), "Store: nowMs must be a safe integer >= 0");
    let expired = 0;
    while (expired < this.settings.sweepKeysMax) {
      const key = this.expiry.due(nowMs);
      if (key === undefined) break;
      this.removeEntry(key, "expire");
      expired++;
    }
    this.expirations += expired;
    return expired;
  }

  /**
   * Changes the policy and bounds (an apply-time log entry) and evicts down to the new
   * bounds, returning the victims. A policy change keeps the keys' relative order
   * (keys entering LFU start at count 1); it costs O(n) once. With the automatic LFU
   * halving interval, a new entriesMax retunes the interval (halving at once if the
   * aging clock has already reached it).
   */
  configure(options: ConfigureOptions, nowMs: number): string[] {
    const policy = options.policy ?? this.settings.policy;
    const entriesMax = options.entriesMax ?? this.settings.entriesMax;
    const bytesMax = options.bytesMax ?? this.settings.bytesMax;
    checkBounds(policy, entriesMax, bytesMax);
    this.sweep(nowMs);
    this.settings = Object.freeze({ ...this.settings, policy, entriesMax, bytesMax });
    if (policy !== this.order.policy) this.order = convertEvictionOrder(this.order, policy, this.orderDependencies());
    else if (this.order instanceof LfuOrder) this.order.retune(lfuHalvingIntervalOf(this.settings));
    return this.evictToBounds(undefined);
  }

  /**
   * Hands every later change to `sink` as it is made (undefined stops it). The sink must
   * not call back into the store; a store restored from a snapshot starts without one.
   */
  observe(sink: ((change: StoreChange) => void) | undefined): void {
    this.changeSink = sink;
  }

  /** Reseeds the eviction generator (the host derives the seed from the log position). */
  reseed(seed: number): void {
    this.prng.reseed(seed);
    this.settings = Object.freeze({ ...this.settings, seed });
  }

  stats(): StoreStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      expirations: this.expirations,
      keys: this.entries.size,
      bytes: this.bytesTotal,
    };
  }

  /**
   * A 64-bit hex hash of the replicated state: settings, revision, eviction and
   * expiration counters, generator state, LFU aging clock, and every stored entry
   * (key, value, text, version, expireAtMs, frequency) in eviction order. Local read
   * stats are left out. O(total bytes): meant for tests and replica checks.
   */
  digest(): string {
    const hasher = new DigestHasher();
    writeHeader(hasher, this.header());
    this.order.forEach((key, frequency) => writeEntry(hasher, key, this.entries.get(key) as Entry, frequency));
    return hasher.hex();
  }

  /**
   * Captures the state now (O(n) references, no copying of values); the chunks are
   * encoded lazily as they are consumed, and later writes do not affect them. An
   * entries chunk closes at chunkEntriesMax entries or once its encoding reaches
   * chunkBytesTarget bytes, so each chunk is a short step even with large values.
   */
  snapshot(chunkEntriesMax: number = SNAPSHOT_CHUNK_ENTRIES_DEFAULT, chunkBytesTarget: number = SNAPSHOT_CHUNK_BYTES_DEFAULT): StoreSnapshot {
    const capture = this.snapshotCapture(chunkEntriesMax, chunkBytesTarget);
    capture.step(Number.MAX_SAFE_INTEGER);
    return capture.snapshot();
  }

  /**
   * The same snapshot as snapshot(), captured over several steps so a large store never
   * holds its caller for long: call step(n) (up to n entries each) until it returns true,
   * then snapshot(). The store must not change from the first step to the last (the
   * caller holds back writes meanwhile); a step that finds it changed throws.
   */
  snapshotCapture(chunkEntriesMax: number = SNAPSHOT_CHUNK_ENTRIES_DEFAULT, chunkBytesTarget: number = SNAPSHOT_CHUNK_BYTES_DEFAULT): SnapshotCapture {
    assert(
      Number.isInteger(chunkEntriesMax) && chunkEntriesMax >= 1 && chunkEntriesMax <= SNAPSHOT_CHUNK_ENTRIES_LIMIT,
      "Store.snapshot: chunkEntriesMax must be an integer in [1, SNAPSHOT_CHUNK_ENTRIES_LIMIT]",
    );
    assert(isSafeIntegerAtLeast(chunkBytesTarget, 1), "Store.snapshot: chunkBytesTarget must be a safe integer >= 1");
    const header = this.header();
    const count = this.entries.size;
    const keys = new Array<string>(count);
    const entries = new Array<Entry>(count);
    const frequencies = new Array<number>(count);
    const walk = this.order.walk();
    const order = this.order;
    let index = 0;
    return {
      step: (entriesMax) => {
        assert(Number.isInteger(entriesMax) && entriesMax >= 1, "SnapshotCapture.step: entriesMax must be a positive integer");
        assert(
          this.order === order &&
            this.revisionCounter === header.revision &&
            this.entries.size === count &&
            this.order.agingAccesses === header.lfuAgingAccesses,
          "Store.snapshotCapture: the store changed during the capture",
        );
        for (let taken = 0; taken < entriesMax && index < count; taken++) {
          const next = walk.next();
          assert(next.done !== true, "Store.snapshotCapture: the eviction order ended early");
          keys[index] = next.value.key;
          entries[index] = this.entries.get(next.value.key) as Entry;
          frequencies[index] = next.value.frequency;
          index++;
        }
        return index === count;
      },
      snapshot: () => {
        assert(index === count, "Store.snapshotCapture: snapshot() before the last step");
        return new CapturedSnapshot(header, keys, entries, frequencies, chunkEntriesMax, chunkBytesTarget);
      },
    };
  }

  /**
   * Rebuilds a store from snapshot chunks, exactly: same digest, and the same results
   * for the same later operations. The snapshot's settings win over `options` (they
   * may have changed through the log since the shard was created); `options` only
   * supplies `seed`, which the snapshot replaces by the generator's state anyway.
   * Throws StoreSnapshotError on malformed chunks or a digest mismatch.
   */
  static restore(chunks: Iterable<Uint8Array>, options: Partial<StoreOptions> = {}): Store {
    const restorer = Store.restorer(options);
    for (const chunk of chunks) restorer.push(chunk);
    return restorer.finish();
  }

  /**
   * Incremental restore: push chunks one at a time (each is a short step, so a host
   * can yield to its event loop between them), then finish() for the Store. Same
   * checks and errors as restore().
   */
  static restorer(options: Partial<StoreOptions> = {}): StoreRestorer {
    let store: Store | undefined;
    const decoder = new SnapshotDecoder({
      header: (header) => {
        store = Store.fromHeader(header, options);
      },
      entry: (loaded) => (store as Store).load(loaded),
    });
    return {
      push: (chunk) => asSnapshotError(() => decoder.push(chunk)),
      finish: () =>
        asSnapshotError(() => {
          decoder.finish();
          (store as Store).checkBoundsHold();
          return store as Store;
        }),
    };
  }

  /** Every stored entry in eviction order (first victim first). O(n): for tests and debugging. */
  orderedEntries(): OrderedEntry[] {
    const ordered: OrderedEntry[] = [];
    this.order.forEach((key, frequency) => ordered.push({ key, entry: this.entries.get(key) as Entry, frequency }));
    return ordered;
  }

  /** O(n) consistency checks of every internal structure; throws StoreAssertionError. */
  checkInvariants(): void {
    let bytes = 0;
    for (const [key, entry] of this.entries) {
      bytes += entryBytes(key, entry.value);
      assert(entry.version >= 1 && entry.version <= this.revisionCounter, "Store: version outside (0, revision]");
    }
    assert(bytes === this.bytesTotal, "Store: byte accounting drifted");
    assert(this.bytesTotal <= this.settings.bytesMax, "Store: bytesMax exceeded");
    assert(this.entries.size <= this.settings.entriesMax, "Store: entriesMax exceeded");
    assert(this.order.size === this.entries.size, "Store: eviction order and map differ in size");
    this.order.forEach((key) => assert(this.entries.has(key), "Store: ordered key not stored"));
    this.order.checkInvariants();
    this.expiry.checkInvariants((key) => this.entries.get(key)?.expireAtMs);
    let expiring = 0;
    for (const entry of this.entries.values()) if (entry.expireAtMs !== 0) expiring++;
    assert(expiring === this.expiry.size, "Store: expiry heap misses entries");
  }

  private static fromHeader(header: SnapshotHeader, options: Partial<StoreOptions>): Store {
    const store = new Store({
      seed: options.seed,
      policy: header.policy,
      entriesMax: header.entriesMax,
      bytesMax: header.bytesMax,
      sweepKeysMax: header.sweepKeysMax,
      lfuHalvingIntervalAccesses: header.lfuHalvingIntervalAccesses,
    });
    store.prng.setState(header.prngState);
    store.order.restoreAgingAccesses(header.lfuAgingAccesses);
    store.revisionCounter = header.revision;
    store.evictions = header.evictions;
    store.expirations = header.expirations;
    return store;
  }

  /** Restore: appends one entry at the back of the eviction order. */
  private load({ key, entry, frequency }: SnapshotEntry): void {
    assert(!this.entries.has(key), "restore: duplicate key");
    assert(entry.version >= 1 && entry.version <= this.revisionCounter, "restore: version outside (0, revision]");
    this.entries.set(key, entry);
    this.bytesTotal += entryBytes(key, entry.value);
    this.order.append(key, frequency);
    this.expiry.set(key, entry.expireAtMs);
  }

  private checkBoundsHold(): void {
    assert(this.entries.size <= this.settings.entriesMax, "Store: entriesMax exceeded");
    assert(this.bytesTotal <= this.settings.bytesMax, "Store: bytesMax exceeded");
  }

  private header(): SnapshotHeader {
    return {
      policy: this.settings.policy,
      entriesMax: this.settings.entriesMax,
      bytesMax: this.settings.bytesMax,
      sweepKeysMax: this.settings.sweepKeysMax,
      lfuHalvingIntervalAccesses: this.settings.lfuHalvingIntervalAccesses,
      revision: this.revisionCounter,
      evictions: this.evictions,
      expirations: this.expirations,
      lfuAgingAccesses: this.order.agingAccesses,
      prngState: this.prng.state(),
      entryCount: this.entries.size,
    };
  }

  private orderDependencies(): EvictionOrderDependencies {
    return { prng: this.prng, lfuHalvingIntervalAccesses: lfuHalvingIntervalOf(this.settings) };
  }

  /** The live entry under `key`; an expired one met by a write is removed here. */
  private liveEntry(key: string, nowMs: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || !isExpired(entry, nowMs)) return entry;
    this.removeEntry(key, "expire");
    this.expirations++;
    return undefined;
  }

  /** Stores `entry`, replacing `current` (the live entry under `key`) if any. */
  private put(key: string, entry: Entry, current: Entry | undefined, sizeBytes: number): void {
    this.entries.set(key, entry);
    if (current === undefined) {
      this.bytesTotal += sizeBytes;
      this.order.insert(key);
    } else {
      this.bytesTotal += entry.value.length - current.value.length;
      this.order.access(key);
    }
    this.expiry.set(key, entry.expireAtMs);
    this.changeSink?.({ kind: "put", key, entry });
  }

  private removeEntry(key: string, kind: "delete" | "expire" | "evict"): void {
    const entry = this.entries.get(key);
    assert(entry !== undefined, "Store.removeEntry: key absent");
    this.entries.delete(key);
    this.bytesTotal -= entryBytes(key, entry.value);
    this.order.remove(key);
    this.expiry.delete(key);
    this.changeSink?.({ kind, key });
  }

  /** Evicts per policy until both bounds hold, sparing `keptKey` (the key just written). */
  private evictToBounds(keptKey: string | undefined): string[] {
    const evicted: string[] = [];
    while (this.entries.size > this.settings.entriesMax || this.bytesTotal > this.settings.bytesMax) {
      const victim = this.order.victim(keptKey);
      assert(victim !== undefined, "Store: nothing left to evict but a bound is exceeded");
      this.removeEntry(victim, "evict");
      this.evictions++;
      evicted.push(victim);
    }
    this.checkBoundsHold();
    return evicted;
  }
}

/** A snapshot being captured in steps (see Store.snapshotCapture). */
export interface SnapshotCapture {
  /** Captures up to entriesMax more entries; true once every entry is captured. */
  step(entriesMax: number): boolean;
  /** The captured snapshot, after the step that returned true. */
  snapshot(): StoreSnapshot;
}

/** Restores a Store from snapshot chunks pushed one at a time (see Store.restorer). */
export interface StoreRestorer {
  push(chunk: Uint8Array): void;
  finish(): Store;
}

/** While restoring, a failed assertion means the input was not a valid snapshot. */
function asSnapshotError<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof StoreAssertionError) throw new StoreSnapshotError(error.message, { cause: error });
    throw error;
  }
}

function refuseByCondition(condition: SetCondition, expectedVersion: number, current: Entry | undefined): SetResult | undefined {
  if (condition === "if_absent") {
    return current === undefined ? undefined : { ok: false, reason: "exists", currentVersion: current.version };
  }
  if (condition === "if_version") {
    const currentVersion = current?.version ?? 0;
    return currentVersion === expectedVersion ? undefined : { ok: false, reason: "version_mismatch", currentVersion };
  }
  assert(condition === "none", "Store.set: unknown condition");
  return undefined;
}
