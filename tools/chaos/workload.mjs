// The workload: which key each operation goes to and what it does, at a capped rate.
//
// Keys are of three classes, each checked its own way:
//   register  get, set, set if absent, set if version, delete  → versionedRegisterModel
//   counter   incr, get                                         → counterModel
//   ttl       set with a TTL, get                               → the TTL checker
// A register or counter key takes --ops-per-key operations and is then replaced by a
// fresh one, so every key's history stays small enough to check. A TTL key is written
// with a TTL drawn from --ttls, read around its expiry, sometimes rewritten, and retired
// a while after it expired.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Spaces operations at most `rate` per second across every client (no burst credit). */
export class RateLimiter {
  constructor(rate) {
    this.interval = 1000 / rate;
    this.next = 0;
  }

  async take() {
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + this.interval;
    if (at > now) await sleep(at - now);
  }
}

/**
 * Every key's operations, in the order they completed, and the outcome counts.
 * A history entry is { client, clientName, clientKind, cls, kind, key, value?, condition?,
 * ttlMs?, delta?, callTime, returnTime?, output?, outcome, code?, attempts, node? }.
 */
export class History {
  constructor() {
    /** @type {Map<string, { key: string, cls: string, ops: any[] }>} */
    this.keys = new Map();
    /** "sdk register:set" → outcome → count */
    this.tally = new Map();
    /** code of failures → count, per outcome */
    this.codes = new Map();
  }

  addKey(key, cls) {
    if (!this.keys.has(key)) this.keys.set(key, { key, cls, ops: [] });
  }

  record(client, op, outcome) {
    const entry = { client: client.id, clientName: client.name, clientKind: client.kind, ...op, ...outcome };
    this.keys.get(op.key).ops.push(entry);
    const label = `${client.kind} ${op.cls}:${opLabel(op)}`;
    const byOutcome = this.tally.get(label) ?? new Map();
    byOutcome.set(outcome.outcome, (byOutcome.get(outcome.outcome) ?? 0) + 1);
    this.tally.set(label, byOutcome);
    if (outcome.outcome !== "ok" && outcome.outcome !== "rejected") {
      const k = `${outcome.outcome} ${outcome.code ?? "?"}`;
      this.codes.set(k, (this.codes.get(k) ?? 0) + 1);
    }
    return entry;
  }

  *entries() {
    for (const k of this.keys.values()) yield* k.ops;
  }
}

export function opLabel(op) {
  if (op.kind === "set" && op.condition && op.condition.kind !== "none") return `set ${op.condition.kind}`;
  return op.kind;
}

export class Workload {
  /**
   * @param {{ mix: { register: number, counter: number, ttl: number }, opsPerKey: number, registerKeys: number, counterKeys: number,
   *           ttlsMs: number[], ttlTailMs: number, history: History, now: () => number }} options
   */
  constructor(options) {
    this.options = options;
    this.history = options.history;
    this.now = options.now;
    this.serial = 0;
    this.keyCount = { register: 0, counter: 0, ttl: 0 };
    /** Active register and counter keys: { key, ops, lastVersion }. */
    this.slots = {
      register: options.mix.register > 0 ? Array.from({ length: options.registerKeys }, () => this.newKey("register")) : [],
      counter: options.mix.counter > 0 ? Array.from({ length: options.counterKeys }, () => this.newKey("counter")) : [],
    };
    /** TTL keys still being read: { key, writtenAt, ttlMs }. */
    this.ttlKeys = [];
    this.classes = /** @type {const} */ ([
      [options.mix.register, "register"],
      [options.mix.counter, "counter"],
      [options.mix.ttl, "ttl"],
    ]).filter(([w]) => w > 0);
  }

  newKey(cls) {
    const prefix = { register: "reg", counter: "ctr", ttl: "ttl" }[cls];
    const key = `${prefix}-${this.keyCount[cls]++}`;
    this.history.addKey(key, cls);
    return { key, ops: 0, lastVersion: 0n };
  }

  /** The next operation for a client, drawn from its own generator. */
  nextOp(prng) {
    const cls = prng.weighted(this.classes);
    if (cls === "ttl") return this.ttlOp(prng);
    const slots = this.slots[cls];
    const index = prng.int(slots.length);
    const slot = slots[index];
    if (++slot.ops >= this.options.opsPerKey) slots[index] = this.newKey(cls);
    const key = slot.key;
    if (cls === "counter") {
      return prng.bool(0.6) ? { cls, key, kind: "incr", delta: prng.pick([1, 1, 1, 2]) } : { cls, key, kind: "get" };
    }
    const kind = prng.weighted([
      [40, "get"],
      [25, "set"],
      [10, "if_absent"],
      [15, "if_version"],
      [10, "delete"],
    ]);
    const value = `v${this.serial++}`;
    if (kind === "get" || kind === "delete") return { cls, key, kind, slot };
    if (kind === "set") return { cls, key, kind: "set", value, condition: { kind: "none" }, slot };
    if (kind === "if_absent") return { cls, key, kind: "set", value, condition: { kind: "if_absent" }, slot };
    // The last version anyone saw of this key (often still current), or 1 at first.
    return { cls, key, kind: "set", value, condition: { kind: "if_version", version: slot.lastVersion > 0n ? slot.lastVersion : 1n }, slot };
  }

  ttlOp(prng) {
    const now = this.now();
    this.ttlKeys = this.ttlKeys.filter((k) => now - k.writtenAt < k.ttlMs + this.options.ttlTailMs);
    const value = `t${this.serial++}`;
    if (this.ttlKeys.length < 2 || prng.bool(0.2)) {
      const k = this.newKey("ttl");
      const ttlMs = prng.pick(this.options.ttlsMs);
      this.ttlKeys.push({ key: k.key, writtenAt: now, ttlMs });
      return { cls: "ttl", key: k.key, kind: "set", value, ttlMs };
    }
    const k = prng.pick(this.ttlKeys);
    if (prng.bool(0.05)) {
      // A rewrite: the key lives again, with a new value and TTL.
      k.writtenAt = now;
      k.ttlMs = prng.pick(this.options.ttlsMs);
      return { cls: "ttl", key: k.key, kind: "set", value, ttlMs: k.ttlMs };
    }
    return { cls: "ttl", key: k.key, kind: "get" };
  }

  /** Learns versions from answers, for later if_version sets. */
  observe(op, outcome) {
    const version = outcome.output?.version;
    if (op.slot && typeof version === "bigint" && version > op.slot.lastVersion) op.slot.lastVersion = version;
  }
}

/**
 * One client's loop: take a slot from the limiter, run the next operation, record it.
 * @param {{ stopped: boolean }} control
 */
export async function runClient(client, prng, workload, limiter, history, control) {
  while (!control.stopped) {
    await limiter.take();
    if (control.stopped) break;
    const op = workload.nextOp(prng);
    const outcome = await client.perform(op);
    workload.observe(op, outcome);
    const plain = { ...op };
    delete plain.slot;
    history.record(client, plain, outcome);
  }
}
