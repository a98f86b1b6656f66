// Test-only: an obviously-correct O(n) model of the store, written from the
// definitions (arrays and linear scans, no clever structures). Property tests run
// random operation sequences against it and the real Store and compare everything.
import { ENTRY_MEMORY_OVERHEAD_BYTES } from "../entry-bytes.js";
import type { EvictionPolicy } from "../eviction-order.js";
import { Prng } from "../prng.js";
import type { IncrResult, OrderedEntry, SetOptions, SetResult } from "../store.js";

interface Item {
  key: string;
  value: Uint8Array;
  text: boolean;
  version: number;
  expireAtMs: number;
  frequency: number;
}

export interface ReferenceOptions {
  policy: EvictionPolicy;
  entriesMax: number;
  bytesMax: number;
  sweepKeysMax: number;
  lfuHalvingIntervalAccesses: number;
  seed: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export class ReferenceStore {
  policy: EvictionPolicy;
  entriesMax: number;
  bytesMax: number;
  revision = 0;
  evictions = 0;
  expirations = 0;
  private agingAccesses = 0;
  /** Eviction order: the first victim first. */
  private items: Item[] = [];
  private readonly prng: Prng;

  constructor(private readonly options: ReferenceOptions) {
    this.policy = options.policy;
    this.entriesMax = options.entriesMax;
    this.bytesMax = options.bytesMax;
    this.prng = new Prng(options.seed);
  }

  get size(): number {
    return this.items.length;
  }

  bytes(): number {
    return this.items.reduce((sum, item) => sum + new TextEncoder().encode(item.key).length + item.value.length + ENTRY_MEMORY_OVERHEAD_BYTES, 0);
  }

  dump(): OrderedEntry[] {
    return this.items.map((item) => ({
      key: item.key,
      entry: { value: item.value, text: item.text, version: item.version, expireAtMs: item.expireAtMs },
      frequency: this.policy === "lfu" ? item.frequency : 0,
    }));
  }

  peek(key: string, nowMs: number): Item | undefined {
    const item = this.items.find((candidate) => candidate.key === key);
    return item === undefined || expired(item, nowMs) ? undefined : item;
  }

  set(key: string, value: Uint8Array, options: SetOptions, nowMs: number): SetResult {
    this.sweep(nowMs);
    const current = this.live(key, nowMs);
    const currentVersion = current?.version ?? 0;
    if (options.condition === "if_absent" && current !== undefined) return { ok: false, reason: "exists", currentVersion };
    if (options.condition === "if_version" && currentVersion !== (options.expectedVersion ?? 0)) {
      return { ok: false, reason: "version_mismatch", currentVersion };
    }
    const version = ++this.revision;
    const expireAtMs = options.expireAtMs ?? 0;
    if (expireAtMs !== 0 && expireAtMs <= nowMs) {
      if (current !== undefined) this.removeKey(key);
      this.expirations++;
      return { ok: true, version, evicted: [] };
    }
    this.write({ key, value, text: options.text ?? false, version, expireAtMs, frequency: 0 }, current);
    return { ok: true, version, evicted: this.evict(key) };
  }

  delete(key: string, nowMs: number): boolean {
    this.sweep(nowMs);
    if (this.live(key, nowMs) === undefined) return false;
    this.removeKey(key);
    this.revision++;
    return true;
  }

  incr(key: string, delta: bigint, nowMs: number): IncrResult {
    this.sweep(nowMs);
    const current = this.live(key, nowMs);
    let base = 0n;
    if (current !== undefined) {
      const text = String.fromCharCode(...current.value);
      if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return { ok: false, reason: "not_integer" };
      base = BigInt(text);
      if (base < INT64_MIN || base > INT64_MAX) return { ok: false, reason: "not_integer" };
    }
    const next = base + delta;
    if (next < INT64_MIN || next > INT64_MAX) return { ok: false, reason: "overflow" };
    const version = ++this.revision;
    const value = new TextEncoder().encode(next.toString());
    this.write({ key, value, text: true, version, expireAtMs: current?.expireAtMs ?? 0, frequency: 0 }, current);
    return { ok: true, value: next, version, evicted: this.evict(key) };
  }

  touch(keys: readonly string[], nowMs: number): void {
    this.sweep(nowMs);
    for (const key of keys) {
      if (this.peek(key, nowMs) !== undefined) this.access(key);
    }
  }

  sweep(nowMs: number): number {
    const due = this.items
      .filter((item) => expired(item, nowMs))
      .sort((a, b) => a.expireAtMs - b.expireAtMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, this.options.sweepKeysMax);
    for (const item of due) this.removeKey(item.key);
    this.expirations += due.length;
    return due.length;
  }

  configure(options: { policy?: EvictionPolicy; entriesMax?: number; bytesMax?: number }, nowMs: number): string[] {
    this.sweep(nowMs);
    const policy = options.policy ?? this.policy;
    if (policy !== this.policy) {
      for (const item of this.items) item.frequency = policy === "lfu" ? 1 : 0;
      this.agingAccesses = 0;
      this.policy = policy;
    }
    const intervalBefore = this.halvingInterval();
    this.entriesMax = options.entriesMax ?? this.entriesMax;
    this.bytesMax = options.bytesMax ?? this.bytesMax;
    if (policy === "lfu" && this.halvingInterval() !== intervalBefore && this.agingAccesses >= this.halvingInterval()) this.halve();
    return this.evict(undefined);
  }

  reseed(seed: number): void {
    this.prng.reseed(seed);
  }

  private live(key: string, nowMs: number): Item | undefined {
    const item = this.items.find((candidate) => candidate.key === key);
    if (item === undefined || !expired(item, nowMs)) return item;
    this.removeKey(key);
    this.expirations++;
    return undefined;
  }

  private write(item: Item, current: Item | undefined): void {
    if (current === undefined) {
      this.insert(item);
      return;
    }
    // Replace the record in place, keeping its position and frequency, then count the access.
    const index = this.items.indexOf(current);
    this.items[index] = { ...item, frequency: current.frequency };
    this.access(item.key);
  }

  private insert(item: Item): void {
    if (this.policy !== "lfu") {
      this.items.push(item);
      return;
    }
    this.placeByFrequency({ ...item, frequency: 1 });
    this.countFrequencyEvent();
  }

  private access(key: string): void {
    const index = this.items.findIndex((item) => item.key === key);
    const item = this.items[index] as Item;
    if (this.policy === "lru") {
      this.items.splice(index, 1);
      this.items.push(item);
    } else if (this.policy === "lfu") {
      this.items.splice(index, 1);
      this.placeByFrequency({ ...item, frequency: item.frequency + 1 });
      this.countFrequencyEvent();
    }
  }

  /** LFU: after every item of equal or lower frequency (so, least recent first within a count). */
  private placeByFrequency(item: Item): void {
    let index = this.items.length;
    while (index > 0 && (this.items[index - 1] as Item).frequency > item.frequency) index--;
    this.items.splice(index, 0, item);
  }

  /** 0 means automatic: 16 accesses per entry of entriesMax. */
  private halvingInterval(): number {
    return this.options.lfuHalvingIntervalAccesses === 0 ? 16 * this.entriesMax : this.options.lfuHalvingIntervalAccesses;
  }

  private countFrequencyEvent(): void {
    this.agingAccesses++;
    if (this.agingAccesses >= this.halvingInterval()) this.halve();
  }

  private halve(): void {
    this.agingAccesses = 0;
    for (const item of this.items) item.frequency = Math.floor(item.frequency / 2);
    // Stable: within a new count, items keep their previous relative order.
    this.items.sort((a, b) => a.frequency - b.frequency);
  }

  private evict(keptKey: string | undefined): string[] {
    const evicted: string[] = [];
    while (this.items.length > this.entriesMax || this.bytes() > this.bytesMax) {
      const candidates = this.items.filter((item) => item.key !== keptKey);
      const victim = this.policy === "random" ? candidates[this.prng.nextBelow(candidates.length)] : candidates[0];
      if (victim === undefined) throw new Error("model: nothing to evict");
      this.removeKey(victim.key);
      this.evictions++;
      evicted.push(victim.key);
    }
    return evicted;
  }

  private removeKey(key: string): void {
    const index = this.items.findIndex((item) => item.key === key);
    if (this.policy === "random") {
      // Random's order is an array with swap-remove: the last key fills the hole.
      const last = this.items.pop() as Item;
      if (index < this.items.length) this.items[index] = last;
    } else {
      this.items.splice(index, 1);
    }
  }
}

function expired(item: Item, nowMs: number): boolean {
  return item.expireAtMs !== 0 && item.expireAtMs <= nowMs;
}
