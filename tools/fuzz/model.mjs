// A small model of the API's request messages (field numbers and types from
// proto/distcache/v1/*.proto), random values for each field (valid or hostile), and
// renderers to a protobuf-es init object, to JSON bytes (with number tokens and bytes
// JSON.stringify cannot produce) and to protobuf binary (with wire-level damage).
import { ProtoWriter, WIRE } from "./proto-writer.mjs";

const HEADER = [
  { name: "noForward", no: 1, t: "bool" },
  { name: "sessionId", no: 2, t: "session" },
  { name: "sequence", no: 3, t: "uint64" },
  { name: "ackedSequence", no: 4, t: "uint64" },
];
const SET_ITEM = [
  { name: "key", no: 1, t: "key" },
  { name: "value", no: 2, t: "bytes", oneof: "payload" },
  { name: "text", no: 4, t: "text", oneof: "payload" },
  { name: "ttlMs", no: 3, t: "int64" },
];
const POSITION = [
  { name: "shard", no: 1, t: "uint32" },
  { name: "index", no: 2, t: "uint64" },
  { name: "ordinal", no: 3, t: "uint32" },
];
const NODE = [
  { name: "id", no: 1, t: "string" },
  { name: "clientAddress", no: 2, t: "string" },
  { name: "peerAddress", no: 3, t: "string" },
];

/** Request fields per method; `service` is the client the method is on. */
export const REQUESTS = {
  Get: {
    service: "cache",
    local: "get",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "key", no: 1, t: "key" },
      { name: "consistency", no: 2, t: "enum", e: "Consistency" },
      { name: "header", no: 3, t: "msg", m: HEADER },
    ],
  },
  Set: {
    service: "cache",
    local: "set",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "key", no: 1, t: "key" },
      { name: "value", no: 2, t: "bytes", oneof: "payload" },
      { name: "text", no: 6, t: "text", oneof: "payload" },
      { name: "ttlMs", no: 3, t: "int64" },
      { name: "condition", no: 4, t: "enum", e: "SetCondition" },
      { name: "expectedVersion", no: 5, t: "uint64" },
      { name: "header", no: 7, t: "msg", m: HEADER },
    ],
  },
  Delete: {
    service: "cache",
    local: "delete",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "key", no: 1, t: "key" },
      { name: "header", no: 2, t: "msg", m: HEADER },
    ],
  },
  MGet: {
    service: "cache",
    local: "mGet",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "keys", no: 1, t: "keys" },
      { name: "consistency", no: 2, t: "enum", e: "Consistency" },
      { name: "header", no: 3, t: "msg", m: HEADER },
    ],
  },
  MSet: {
    service: "cache",
    local: "mSet",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "items", no: 1, t: "items", m: SET_ITEM },
      { name: "header", no: 2, t: "msg", m: HEADER },
    ],
  },
  MDelete: {
    service: "cache",
    local: "mDelete",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "keys", no: 1, t: "keys" },
      { name: "header", no: 2, t: "msg", m: HEADER },
    ],
  },
  Incr: {
    service: "cache",
    local: "incr",
    path: "distcache.v1.CacheService",
    fields: [
      { name: "key", no: 1, t: "key" },
      { name: "delta", no: 2, t: "int64" },
      { name: "header", no: 3, t: "msg", m: HEADER },
    ],
  },
  Watch: {
    service: "cache",
    local: "watch",
    path: "distcache.v1.CacheService",
    streaming: true,
    fields: [
      { name: "key", no: 1, t: "key" },
      { name: "prefix", no: 2, t: "bool" },
      { name: "withValues", no: 4, t: "bool" },
      { name: "start", no: 5, t: "items", m: POSITION },
      { name: "shards", no: 6, t: "shards" },
    ],
  },
  Stats: { service: "cache", local: "stats", path: "distcache.v1.CacheService", fields: [{ name: "includeDigests", no: 1, t: "digests" }] },
  GetTopology: { service: "cluster", local: "getTopology", path: "distcache.v1.ClusterService", fields: [] },
  WatchTopology: { service: "cluster", local: "watchTopology", path: "distcache.v1.ClusterService", streaming: true, fields: [] },
  AddNode: { service: "cluster", local: "addNode", path: "distcache.v1.ClusterService", fields: [{ name: "node", no: 1, t: "msg", m: NODE }] },
  // Removing a real member is an administrator's act the cluster carries out (its replicas
  // move away and it stops), not hostile input: the fuzzer names ids that are no member.
  RemoveNode: { service: "cluster", local: "removeNode", path: "distcache.v1.ClusterService", fields: [{ name: "nodeId", no: 1, t: "strangerId" }] },
  TransferLeader: {
    service: "cluster",
    local: "transferLeader",
    path: "distcache.v1.ClusterService",
    fields: [
      { name: "shard", no: 1, t: "uint32" },
      { name: "toNodeId", no: 2, t: "nodeId" },
    ],
  },
  // Bounds only ever stay or grow (see "bound"): a smaller one would evict the keys the run checks.
  ConfigureStore: {
    service: "cluster",
    local: "configureStore",
    path: "distcache.v1.ClusterService",
    fields: [
      { name: "shards", no: 1, t: "shards" },
      { name: "policy", no: 2, t: "enum", e: "EvictionPolicy" },
      { name: "entriesMax", no: 3, t: "bound" },
      { name: "bytesMax", no: 4, t: "bound" },
    ],
  },
};

// A Batch carries the single-key requests as its calls: each call one of them (a oneof),
// with its own timeout.
const BATCH_CALL = [
  { name: "get", no: 1, t: "msg", m: REQUESTS.Get.fields, oneof: "call" },
  { name: "set", no: 2, t: "msg", m: REQUESTS.Set.fields, oneof: "call" },
  { name: "delete", no: 3, t: "msg", m: REQUESTS.Delete.fields, oneof: "call" },
  { name: "incr", no: 4, t: "msg", m: REQUESTS.Incr.fields, oneof: "call" },
  { name: "timeoutMs", no: 5, t: "uint32" },
];
REQUESTS.Batch = { service: "cache", local: "batch", path: "distcache.v1.CacheService", fields: [{ name: "calls", no: 1, t: "items", m: BATCH_CALL }] };

/** Methods Connect clients may call with HTTP GET (idempotency NO_SIDE_EFFECTS). */
export const GET_METHODS = ["Get", "MGet", "Stats", "GetTopology"];

const ENUM_NAMES = {
  Consistency: ["CONSISTENCY_UNSPECIFIED", "CONSISTENCY_STRONG", "CONSISTENCY_EVENTUAL"],
  SetCondition: ["SET_CONDITION_UNSPECIFIED", "SET_CONDITION_IF_ABSENT", "SET_CONDITION_IF_VERSION"],
  EvictionPolicy: ["EVICTION_POLICY_UNSPECIFIED", "EVICTION_POLICY_LRU", "EVICTION_POLICY_LFU", "EVICTION_POLICY_FIFO", "EVICTION_POLICY_RANDOM"],
};

/** Store bounds that never shrink a shard: 0 (keep), very large, or beyond what the protocol allows. */
const BOUNDS_VALID = [0n, 10n ** 12n, 2n ** 53n - 1n];
const BOUNDS_HOSTILE = [2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 0n];

export const INT64_EXTREMES = [
  0n,
  -1n,
  1n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  -(2n ** 53n) - 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 32n - 1n,
  2n ** 31n,
];
export const UINT64_EXTREMES = [0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 32n - 1n, 2n ** 32n];
export const UINT32_EXTREMES = [0n, 1n, 11n, 12n, 99n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n];
const ENUM_NUMBERS = [3, 4, 99, -1, 2 ** 31 - 1, -(2 ** 31), 1000];
/** Values beyond what the field's type holds: only JSON and hand-made binary can carry them. */
const BEYOND = [2n ** 64n - 1n, 2n ** 64n, 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 70n, -1n];
/** Number tokens for JSON integer fields, sent verbatim. */
const JSON_NUMBER_TOKENS = [
  "0",
  "-1",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "-9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775808",
  "-9223372036854775809",
  "18446744073709551615",
  "18446744073709551616",
  "4294967295",
  "4294967296",
  "1e3",
  "1.5",
  "-0",
  "1e400",
  "0.0",
  "1E2",
  "1e-7",
  "123456789012345678901234567890",
];
const JSON_STRING_TOKENS = [
  '""',
  '" 1"',
  '"0x10"',
  '"NaN"',
  '"Infinity"',
  '"-Infinity"',
  '"1e3"',
  '"+1"',
  '"1.5"',
  '"18446744073709551616"',
  '"-9223372036854775809"',
  '"１２"',
  '"0b1"',
  '"1_000"',
];
const JSON_OTHER_TOKENS = ["null", "true", "false", "[]", "{}", "[1]", '{"a":1}'];
const BAD_BASE64 = ['"!!!!"', '"A"', '"AB="', '"-_-_"', '"QUJD\\nREVG"', '"QUJD REVG"', '"===="', '"QQ"', '"QUJ"', "123", "[1,2]"];

/** Byte sequences that are not UTF-8: overlong, surrogates, stray continuation bytes, truncated. */
export const INVALID_UTF8 = [
  [0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0x80],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe, 0xfe, 0xff, 0xff],
];
const LONE_SURROGATES = ["\ud800", "\udfff", "\ud83d", "a\udc00b", "\udc00\ud800"];

/** A value the renderers understand. */
const int = (v, asString) => ({ k: "int", v: BigInt(v), asString });
const raw = (token) => ({ k: "rawjson", token });

/**
 * Random field values. `mode` "typed" keeps every value representable in the field's
 * protobuf type (for the stock clients); "raw" allows anything JSON or the wire can carry.
 */
export class ValueMaker {
  /**
   * @param {import("./prng.mjs").Prng} rng
   * @param {{ index: number, pool: ReturnType<typeof makePools>, memberIds: string[], shardCount: number }} ctx
   * @param {{ mode: "typed" | "raw", hostility: number }} options
   */
  constructor(rng, ctx, options) {
    this.rng = rng;
    this.ctx = ctx;
    this.mode = options.mode;
    this.p = options.hostility;
    /** Set when a value of at least 64 KiB was drawn: the caller moves the key to the big-value pool. */
    this.bigValue = false;
    /** Bytes of large keys, values and session ids one request may still draw (a batch of big values would not fit in memory). */
    this.budget = 2 * 1024 * 1024;
  }

  /** Takes n bytes from the request's budget; false (and nothing taken) when they do not fit. */
  charge(n) {
    if (n > this.budget) return false;
    this.budget -= n;
    return true;
  }

  hostile() {
    return this.rng.bool(this.p);
  }

  /** Values for the fields of one message. @returns {[object, object][]} */
  message(fields, depth = 0) {
    const out = [];
    const oneofs = fields.filter((f) => f.oneof);
    // A oneof: one member usually, none sometimes, both (raw only) now and then.
    const both = this.mode === "raw" && this.hostile() && this.rng.bool(0.3);
    const chosen = oneofs.length ? (both ? oneofs : this.rng.bool(0.9) ? [this.rng.pick(oneofs)] : []) : [];
    for (const f of fields) {
      if (f.oneof && !chosen.includes(f)) continue;
      const essential = f.t === "key" || f.t === "keys" || f.t === "items";
      if (!f.oneof && !this.rng.bool(essential ? 0.97 : 0.6)) continue;
      out.push([f, this.value(f, depth)]);
    }
    return out;
  }

  value(f, depth) {
    const rng = this.rng;
    const h = this.hostile();
    switch (f.t) {
      case "key":
        return h ? this.hostileKey() : { k: "str", v: this.validKey() };
      case "keys":
        return { k: "list", items: this.keyList(h) };
      case "items": {
        const n = h
          ? rng.weighted([
              [4, 0],
              [4, 1],
              [4, 2],
              [2, 999],
              [2, 1000],
              [2, 1001],
              [1, 2000],
              [0.5, 5000],
            ])
          : rng.pick([1, 2, 3, 10, 50]);
        const dup = rng.bool(0.2);
        const items = [];
        for (let i = 0; i < n; i++) {
          const item = this.message(f.m, depth + 1);
          if (dup && i > 0 && rng.bool(0.5)) {
            const key = item.find(([g]) => g.name === "key");
            if (key) key[1] = { k: "str", v: this.ctx.pool.junk[this.ctx.index % this.ctx.pool.junk.length] };
          }
          items.push({ k: "msg", fields: this.fixBig(item) });
        }
        return { k: "list", items };
      }
      case "bytes":
        return this.bytesValue(h);
      case "text":
        return this.textValue(h);
      case "int64":
        if (!h) return int(f.name === "delta" ? rng.range(-100, 100) : rng.pick([0, 0, 0, 1000, 60000, 3_600_000]));
        return this.intValue(INT64_EXTREMES);
      case "uint64":
        if (!h) return int(rng.pick([0, 0, 1, 2, 3, 100]));
        return this.intValue(UINT64_EXTREMES);
      case "uint32":
        // A Batch call's own timeout (none, short, long), or a shard.
        if (!h) return int(f.name === "timeoutMs" ? rng.pick([0, 0, 50, 1000, 5000]) : rng.int(this.ctx.shardCount));
        return this.intValue(UINT32_EXTREMES);
      case "bound":
        if (!h) return int(rng.pick(BOUNDS_VALID));
        if (this.mode === "raw" && rng.bool(0.4)) return raw(rng.pick(["-1", "1.5", '"-5"', "1e400", "18446744073709551616", "null"]));
        return int(rng.pick(BOUNDS_HOSTILE), this.mode === "raw" && rng.bool());
      case "shards": {
        const n = h ? rng.pick([0, 1, 3, 12, 13, 100]) : rng.pick([0, 1, 2]);
        const items = [];
        for (let i = 0; i < n; i++) items.push(h && rng.bool(0.3) ? this.intValue(UINT32_EXTREMES) : int(rng.int(this.ctx.shardCount)));
        if (h && n > 0 && rng.bool(0.3)) items.push(items[0]);
        return { k: "list", items };
      }
      case "enum":
        if (!h) return this.mode === "raw" && rng.bool(0.5) ? { k: "str", v: rng.pick(ENUM_NAMES[f.e]) } : { k: "enum", v: rng.int(3) };
        if (this.mode === "raw" && rng.bool(0.4)) {
          return rng.pick([
            { k: "str", v: `${ENUM_NAMES[f.e][1]}_BOGUS` },
            { k: "str", v: ENUM_NAMES[f.e][1].toLowerCase() },
            { k: "str", v: "" },
            { k: "str", v: "1" },
            raw("1.5"),
            raw("2147483648"),
            raw("null"),
            raw("true"),
          ]);
        }
        return { k: "enum", v: rng.pick(ENUM_NUMBERS) };
      case "bool":
        if (!h || this.mode === "typed") return { k: "bool", v: rng.bool() };
        return rng.pick([raw('"true"'), raw("1"), raw("null"), raw("0"), { k: "wire", value: 2n }, { k: "wire", value: 2n ** 64n - 1n }]);
      case "digests":
        // Digests hash every key: ask for them rarely.
        return { k: "bool", v: rng.bool(0.1) };
      case "session":
        return h ? this.hostileSession() : { k: "str", v: rng.bool(0.7) ? "" : `fz-session-${rng.int(50)}` };
      case "nodeId":
        if (!h) return { k: "str", v: rng.bool(0.3) ? "" : rng.pick(this.ctx.memberIds) };
        return this.hostileString();
      case "strangerId":
        if (!h) return { k: "str", v: rng.pick(["", "n99", "fz-node", `${rng.pick(this.ctx.memberIds)}x`]) };
        return this.hostileString();
      case "string":
        return h ? this.hostileString() : { k: "str", v: rng.string(rng.range(1, 12)) };
      case "msg":
        if (this.mode === "raw" && h && rng.bool(0.3))
          return rng.pick([raw('"header"'), raw("[]"), raw("null"), raw("42"), { k: "garbage", bytes: rng.bytes(rng.range(1, 40)) }]);
        return { k: "msg", fields: this.keyedMessage(f.m, depth + 1) };
      default:
        throw new Error(`no values for field type ${f.t}`);
    }
  }

  intValue(extremes) {
    const rng = this.rng;
    if (this.mode === "typed") return int(rng.pick(extremes));
    const r = rng.float();
    if (r < 0.45) return int(rng.pick(extremes), rng.bool());
    if (r < 0.6) return { k: "beyond", v: rng.pick(BEYOND), asString: rng.bool() };
    if (r < 0.8) return raw(rng.pick(JSON_NUMBER_TOKENS));
    if (r < 0.92) return raw(rng.pick(JSON_STRING_TOKENS));
    return raw(rng.pick(JSON_OTHER_TOKENS));
  }

  validKey() {
    return this.rng.pick(this.ctx.pool.junk);
  }

  hostileKey() {
    const rng = this.rng;
    const { pool } = this.ctx;
    const choices = [
      () => ({ k: "str", v: "" }),
      () => ({ k: "str", v: "k".repeat(1025) }),
      () => ({ k: "str", v: "é".repeat(513) }),
      () => {
        const n = rng.pick([4096, 65_536, 65_537, 70_000]);
        return { k: "str", v: "x".repeat(this.charge(n) ? n : 1025) };
      },
      () => ({ k: "str", v: rng.pick(pool.long) }),
      () => ({ k: "str", v: rng.pick(pool.junk) + rng.pick(LONE_SURROGATES) }),
      () => ({ k: "str", v: rng.pick(LONE_SURROGATES) }),
      () => ({ k: "str", v: "\u0000" }),
      () => ({ k: "str", v: rng.pick(pool.junk) + "\u0000\u0001\u007f" }),
    ];
    if (this.mode === "raw") {
      choices.push(
        () => ({ k: "utf8", prefix: rng.pick(pool.junk), bytes: rng.pick(INVALID_UTF8) }),
        () => ({ k: "utf8", prefix: "", bytes: rng.pick(INVALID_UTF8) }),
        () => raw(rng.pick(["5", "null", "[]", "{}", "true", '"\\ud800"', '"\\u0000"', '"\\uDFFF\\uD800"'])),
      );
    }
    return rng.pick(choices)();
  }

  keyList(h) {
    const rng = this.rng;
    const n = h
      ? rng.weighted([
          [4, 0],
          [4, 1],
          [4, 2],
          [2, 999],
          [2, 1000],
          [2, 1001],
          [1, 5000],
          [0.5, 10_001],
        ])
      : rng.pick([1, 2, 5, 20, 100]);
    const dup = rng.bool(0.25);
    const items = [];
    for (let i = 0; i < n; i++) {
      if (dup && i > 0 && rng.bool(0.3)) items.push(items[rng.int(i)]);
      else if (h && rng.bool(0.05)) items.push(this.hostileKey());
      else items.push({ k: "str", v: this.validKey() });
    }
    return items;
  }

  bytesValue(h) {
    const rng = this.rng;
    if (!h) return { k: "bytes", v: rng.bytes(rng.range(0, 64)) };
    if (this.mode === "raw" && rng.bool(0.3)) return raw(rng.pick(BAD_BASE64));
    const size = this.bigSize();
    return { k: "bytes", v: size > 4096 ? new Uint8Array(size).fill(0x5a) : rng.bytes(size) };
  }

  textValue(h) {
    const rng = this.rng;
    if (!h) return { k: "str", v: rng.string(rng.range(0, 40), 'abcdefghij klmnop-éü€漢字🙂\n\t"\\') };
    const r = rng.float();
    if (r < 0.3) return { k: "str", v: `text${rng.pick(LONE_SURROGATES)}` };
    if (r < 0.45 && this.mode === "raw") return { k: "utf8", prefix: "t", bytes: rng.pick(INVALID_UTF8) };
    const size = this.bigSize();
    return { k: "str", v: "y".repeat(size) };
  }

  /** Value sizes around the limit; accepted big values are rare (each one lives in every Raft log). */
  bigSize() {
    const rng = this.rng;
    const size = rng.weighted([
      [14, 0],
      [8, rng.range(100, 4096)],
      [1, 65_536],
      [1, 1024 * 1024],
      [3, 1024 * 1024 + 1],
      [1, 2 * 1024 * 1024],
    ]);
    if (!this.charge(size)) return rng.range(0, 64);
    if (size >= 65_536 && size <= 1024 * 1024) this.bigValue = true;
    return size;
  }

  hostileSession() {
    const rng = this.rng;
    let size = rng.pick([1, 127, 128, 129, 1000, 65_536, 200_000]);
    if (!this.charge(size)) size = 129;
    const r = rng.float();
    // Unique per request, so a table that keeps sessions cannot fold them into one.
    const id = `${this.ctx.index}:`;
    if (r < 0.15) return { k: "str", v: id + rng.pick(LONE_SURROGATES) };
    if (r < 0.25 && this.mode === "raw") return { k: "utf8", prefix: id, bytes: rng.pick(INVALID_UTF8) };
    return { k: "str", v: id + "s".repeat(Math.max(0, size - id.length)) };
  }

  hostileString() {
    const rng = this.rng;
    return rng.pick([
      { k: "str", v: "" },
      { k: "str", v: "n".repeat(rng.pick([65, 256, 70_000])) },
      { k: "str", v: `n${rng.pick(LONE_SURROGATES)}` },
      { k: "str", v: "no-such-node" },
      { k: "str", v: "\u0000" },
      ...(this.mode === "raw" ? [{ k: "utf8", prefix: "n", bytes: rng.pick(INVALID_UTF8) }, raw("7"), raw("null")] : []),
    ]);
  }

  /** A message whose value drew a big size writes under a key of the big-value pool. */
  /** A nested message; one with a key (a Batch call's request) keeps a big value on the big keys, as a request does. */
  keyedMessage(fields, depth) {
    const out = this.message(fields, depth);
    return out.some(([f]) => f.name === "key") ? this.fixBig(out) : out;
  }

  fixBig(fields) {
    if (!this.bigValue) return fields;
    this.bigValue = false;
    const key = fields.find(([f]) => f.name === "key");
    if (key && key[1].k === "str" && this.ctx.pool.junk.includes(key[1].v)) key[1] = { k: "str", v: this.rng.pick(this.ctx.pool.big) };
    return fields;
  }
}

/** Keys the fuzzer writes to, bounded so stored data stays small whatever runs. */
export function makePools(rng) {
  const junk = [];
  const alphabets = [
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "αβγδεжзийк",
    "漢字仮名交じり文",
    "🙂🚀🔥💾",
    " \t\n\r\"'\\/{}[]:,",
    "\u0301\u200b\u200d\ufeff\ufffd",
  ];
  for (let i = 0; i < 1500; i++) {
    const len = rng.weighted([
      [20, rng.range(1, 8)],
      [5, rng.range(9, 64)],
      [1, rng.range(65, 300)],
    ]);
    junk.push(`j/${i}/${rng.string(len, rng.pick(alphabets))}`);
  }
  const long = [];
  for (let i = 0; i < 16; i++) long.push(`L${i}/`.padEnd(1024, "l"));
  const big = [];
  for (let i = 0; i < 12; i++) big.push(`big/${i}`);
  return { junk, long, big };
}

// ---------------------------------------------------------------------------------------
// Renderers

/** A protobuf-es init object (typed mode values only). */
export function toInit(fields) {
  const out = {};
  for (const [f, v] of fields) {
    const value = initValue(f, v);
    if (f.oneof) out[f.oneof] = { case: f.name, value };
    else out[f.name] = value;
  }
  return out;
}

function initValue(f, v) {
  switch (v.k) {
    case "int":
      return f.t === "uint32" ? Number(v.v) : v.v;
    case "enum":
      return v.v;
    case "bool":
    case "str":
    case "bytes":
      return v.v;
    case "msg":
      return toInit(v.fields);
    case "list":
      return v.items.map((item) => initValue({ ...f, t: f.t === "keys" ? "key" : f.t === "shards" ? "uint32" : "msg" }, item));
    default:
      throw new Error(`value kind ${v.k} has no typed form`);
  }
}

/**
 * JSON bytes. Options damage the text: a field twice, an unknown field, a byte-order
 * mark, trailing garbage.
 */
export function toJson(fields, rng, damage = 0) {
  const parts = [];
  const push = (s) => parts.push(typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s));
  const writeObject = (fs, depth) => {
    push("{");
    const entries = [...fs];
    if (rng.bool(damage) && entries.length > 0) entries.push(rng.pick(entries));
    if (rng.bool(damage * 0.5))
      entries.push([{ name: rng.pick(["unknownField", "Key", "@type", "key ", "ttl_ms", "__proto__"]), t: "x" }, raw(rng.pick(['"x"', "1", "{}", "null"]))]);
    entries.forEach(([f, v], i) => {
      if (i > 0) push(",");
      // The JSON mapping accepts the proto field name as well as the lowerCamel one.
      push(JSON.stringify(rng.bool(0.1) ? snake(f.name) : f.name));
      push(":");
      writeValue(f, v, depth);
    });
    push("}");
  };
  const writeValue = (f, v, depth) => {
    switch (v.k) {
      case "int":
        return push(v.asString ? `"${v.v}"` : v.v.toString());
      case "beyond":
        return push(v.asString ? `"${v.v}"` : v.v.toString());
      case "enum":
        return push(String(v.v));
      case "bool":
        return push(v.v ? "true" : "false");
      case "str":
        return push(JSON.stringify(v.v));
      case "utf8":
        push(`"${JSON.stringify(v.prefix).slice(1, -1)}`);
        push(Uint8Array.from(v.bytes));
        return push('"');
      case "bytes":
        return push(`"${Buffer.from(v.v).toString(rng.bool(0.2) ? "base64url" : "base64")}"`);
      case "rawjson":
        return push(v.token);
      case "wire":
        return push(v.value.toString());
      case "garbage":
        return push(JSON.stringify(Buffer.from(v.bytes).toString("latin1")));
      case "msg":
        return writeObject(v.fields, depth + 1);
      case "list":
        push("[");
        v.items.forEach((item, i) => {
          if (i > 0) push(",");
          writeValue(f, item, depth + 1);
        });
        return push("]");
      default:
        throw new Error(`value kind ${v.k} has no JSON form`);
    }
  };
  if (rng.bool(damage * 0.2)) push(Uint8Array.from([0xef, 0xbb, 0xbf]));
  writeObject(fields, 0);
  if (rng.bool(damage * 0.2)) push(rng.pick(["}", " x", "\u0000", "{}", ",", "\n\n"]));
  return Buffer.concat(parts);
}

function snake(name) {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Protobuf binary; `damage` is the chance of each kind of wire-level damage. */
export function toBinary(fields, rng, damage = 0) {
  const w = new ProtoWriter();
  writeFields(w, fields, rng, damage);
  if (rng.bool(damage * 0.3)) unknownField(w, rng);
  return w.finish();
}

function writeFields(w, fields, rng, damage) {
  for (const [f, v] of fields) {
    if (rng.bool(damage * 0.15)) {
      wrongWireType(w, f.no, rng);
      continue;
    }
    writeValue(w, f, v, rng, damage);
    if (rng.bool(damage * 0.1)) unknownField(w, rng);
  }
}

function writeValue(w, f, v, rng, damage) {
  switch (v.k) {
    case "int":
    case "beyond":
      if (rng.bool(damage * 0.2)) return w.tag(f.no, WIRE.VARINT).overlongVarint(v.v, rng.pick([10, 11, 12]));
      return w.uint(f.no, v.v);
    case "enum":
      return w.uint(f.no, BigInt(v.v));
    case "bool":
      return w.uint(f.no, v.v ? 1 : 0);
    case "wire":
      return w.uint(f.no, v.value);
    case "str":
      return w.bytes(f.no, v.v);
    case "utf8":
      return w.bytes(f.no, Buffer.concat([Buffer.from(v.prefix, "utf8"), Buffer.from(v.bytes)]));
    case "bytes":
      return w.bytes(f.no, v.v);
    case "garbage":
      return w.bytes(f.no, v.bytes);
    case "rawjson":
      // No binary form: send the token's bytes in the field, which is garbage for most types.
      return w.bytes(f.no, v.token);
    case "msg": {
      const inner = new ProtoWriter();
      writeFields(inner, v.fields, rng, damage);
      return w.bytes(f.no, inner);
    }
    case "list":
      // Repeated uint32 is packed in proto3, though parsers take it unpacked too: send both.
      if (f.t === "shards" && v.items.every((i) => i.k === "int") && rng.bool()) {
        const packed = new ProtoWriter();
        for (const item of v.items) packed.varint(item.v);
        return w.bytes(f.no, packed);
      }
      for (const item of v.items) writeValue(w, { ...f, t: f.t === "keys" ? "key" : f.t === "shards" ? "uint32" : "msg" }, item, rng, damage);
      return w;
    default:
      throw new Error(`value kind ${v.k} has no binary form`);
  }
}

function wrongWireType(w, no, rng) {
  switch (rng.int(5)) {
    case 0:
      return w.fixed64(no, rng.next());
    case 1:
      return w.fixed32(no, rng.next());
    case 2:
      return w.uint(no, 2n ** 64n - 1n);
    case 3:
      return w.bytes(no, rng.bytes(rng.range(0, 20)));
    default:
      return w.tag(no, WIRE.SGROUP).tag(no, WIRE.EGROUP);
  }
}

function unknownField(w, rng) {
  const no = rng.pick([15, 99, 1000, 2 ** 29 - 1, 19_000]);
  switch (rng.int(5)) {
    case 0:
      return w.uint(no, rng.next());
    case 1:
      return w.fixed64(no, 0);
    case 2:
      return w.fixed32(no, 0);
    case 3:
      return w.bytes(no, rng.bytes(rng.range(0, 30)));
    default:
      return w.tag(no, WIRE.SGROUP).uint(1, 1).tag(no, WIRE.EGROUP);
  }
}

/** Binary that breaks the wire format itself. */
export function brokenBinary(rng) {
  const w = new ProtoWriter();
  switch (rng.int(10)) {
    case 0:
      return w.raw([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).finish(); // length far beyond the body
    case 1:
      return w.raw([0x08]).finish(); // tag without its value
    case 2:
      return w.raw([0x08, 0x80, 0x80, 0x80]).finish(); // truncated varint
    case 3:
      return w.tag(1, WIRE.VARINT).overlongVarint(1n, 11).finish(); // varint of 11 bytes
    case 4:
      return w.raw([0x00, 0x01]).finish(); // field number 0
    case 5:
      return w.raw([0x0e, 0x01]).finish(); // wire type 6
    case 6:
      return w.raw([0x0f, 0x01]).finish(); // wire type 7
    case 7: {
      // Groups nested far deeper than any decoder should recurse.
      const depth = rng.pick([1000, 10_000, 100_000]);
      for (let i = 0; i < depth; i++) w.tag(99, WIRE.SGROUP);
      for (let i = 0; i < depth; i++) w.tag(99, WIRE.EGROUP);
      return w.finish();
    }
    case 8:
      return w.tag(99, WIRE.EGROUP).finish(); // end of a group never started
    default:
      return rng.bytes(rng.range(1, 512));
  }
}
