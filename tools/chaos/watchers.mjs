// The run's watchers: prefix watches of every key (the workload's keys, reg-, ctr- and
// ttl-, share no prefix but the empty one), with values, that record every event they
// receive for the watch checker (check-watch.mjs).
//
//   sdk  client.watch("", { prefix: true, withValues: true }) of @distcache/client, through
//        the client proxies with the workload's addressMap; it reconnects and resumes by
//        itself. An interceptor counts its Watch calls (reconnects) and their errors.
//   raw  CacheService.Watch over Connect (HTTP/1.1) to one node drawn from the seed; on
//        any error, stream end or 15 s of silence it waits a short backoff and opens the
//        watch again on a node drawn again, with start = the last resume token it received.
//
// Each event is recorded as { shard, index (bigint), ordinal, type, key, version (bigint),
// text, atMs }.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createCacheClient, WatchCompactedError } from "@distcache/client";
import { GuardedSessionManager } from "@distcache/client/node";
import { CacheService, CompactedSchema, Consistency } from "@distcache/proto";
import { errorCode } from "./rpc-errors.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const decoder = new TextDecoder();
const WIRE_TYPES = ["?", "put", "delete", "expire", "evict"];
/** A stream that delivers nothing (not even progress, sent every 5 s) for this long is cut. */
export const WATCH_SILENCE_MS = 15_000;

/** Recorded events and connection counts, common to both kinds. */
class WatchRecord {
  constructor(name, kind, now) {
    this.name = name;
    this.kind = kind;
    this.now = now;
    /** Every event received, in order. */
    this.events = [];
    /** Watch calls made (the first one included). */
    this.opens = 0;
    /** Failed or ended streams, by code. */
    this.errors = new Map();
    /** out_of_range answers with a Compacted detail: { atMs, node, shard, oldestIndex, start }. */
    this.compacted = [];
    /** Why the watch stopped before the end of the run: { reason, atMs, detail }. */
    this.ended = undefined;
    /** Set by close(): errors from then on are the watch being stopped. */
    this.closing = false;
    /** Harness time from which the watch covers every write (set once it is ready, as the workload starts). */
    this.readyAtMs = undefined;
  }

  get reconnects() {
    return Math.max(0, this.opens - 1);
  }

  noteError(err) {
    if (this.closing) return;
    const code = errorCode(err);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  push(event) {
    this.events.push({ ...event, atMs: this.now() });
  }

  /** The watch's data for the checker. */
  snapshot() {
    const { name, kind, events, opens, reconnects, compacted, ended, readyAtMs } = this;
    return { name, kind, events, opens, reconnects, errors: new Map(this.errors), compacted, ended, readyAtMs, resume: this.resume() };
  }
}

/** The Compacted detail of an out_of_range error, if it has one. */
function compactedOf(err) {
  const e = ConnectError.from(err);
  if (e.code !== Code.OutOfRange) return undefined;
  const [detail] = e.findDetails(CompactedSchema);
  return { shard: detail?.shard ?? -1, oldestIndex: detail?.oldestIndex ?? 0n, oldestOrdinal: detail?.oldestOrdinal ?? 0, message: e.rawMessage.slice(0, 200) };
}

// ---------------------------------------------------------------------------------------

export class SdkWatcher extends WatchRecord {
  /** @param {{ name: string, endpoints: string[], addressMap: ((a: string) => string) | undefined, now: () => number }} options */
  constructor(options) {
    super(options.name, "sdk", options.now);
    this.lastUrl = undefined;
    const sessions = [];
    this.cache = createCacheClient({
      seeds: options.endpoints,
      addressMap: options.addressMap,
      // As createNodeCacheClient builds it, with an interceptor that counts Watch calls.
      transport: (baseUrl) => {
        const sessionManager = new GuardedSessionManager(baseUrl, undefined, { maxSessionMemory: 4096 });
        sessions.push(sessionManager);
        return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager, interceptors: [this.countWatch()] });
      },
      onClose: () => {
        for (const s of sessions.splice(0)) s.abort();
      },
    });
    this.watch = undefined;
    this.done = undefined;
  }

  /** An interceptor that counts Watch calls and notes how each stream ended (compacted answers with their detail). */
  countWatch() {
    const tap = async function* (record, messages) {
      try {
        yield* messages;
      } catch (err) {
        record.noteStreamError(err);
        throw err;
      }
    };
    return (next) => async (req) => {
      if (req.method.name !== "Watch") return next(req);
      this.opens++;
      this.lastUrl = req.url;
      try {
        const res = await next(req);
        return res.stream ? { ...res, message: tap(this, res.message) } : res;
      } catch (err) {
        this.noteStreamError(err);
        throw err;
      }
    };
  }

  noteStreamError(err) {
    this.noteError(err);
    const compacted = compactedOf(err);
    if (compacted && !this.closing) this.compacted.push({ atMs: this.now(), node: this.lastUrl, ...compacted, start: this.resume() });
  }

  resume() {
    return this.watch ? this.watch.resumeToken : [];
  }

  start() {
    this.watch = this.cache.watch("", { prefix: true, withValues: true });
    this.done = (async () => {
      try {
        for await (const e of this.watch) {
          this.push({ ...e.position, type: e.type, key: e.key, version: e.version, text: e.text ?? (e.value ? decoder.decode(e.value) : undefined) });
        }
      } catch (err) {
        if (!this.closing) this.endWith(err);
      }
    })();
  }

  endWith(err) {
    const detail = err instanceof WatchCompactedError ? `shard ${err.shard} oldest index ${err.oldest.index} via ${this.lastUrl}` : String(err?.message ?? err);
    const reason = err instanceof WatchCompactedError ? "compacted" : (err?.name ?? "error");
    this.ended = { reason, atMs: this.now(), detail };
  }

  /** Whether the watch has a position for every one of `shardCount` shards. */
  ready(shardCount) {
    return this.resume().length >= shardCount;
  }

  async close() {
    this.closing = true;
    this.watch?.close();
    await this.done;
    await this.cache.close();
  }
}

// ---------------------------------------------------------------------------------------

export class RawWatcher extends WatchRecord {
  /**
   * @param {{ name: string, ids: string[], urlOf: (id: string) => string, routable: (id: string) => boolean, random: () => number,
   *           now: () => number }} options
   */
  constructor(options) {
    super(options.name, "raw", options.now);
    this.options = options;
    this.ids = [...options.ids];
    this.clients = new Map();
    this.token = [];
    this.stopped = false;
    this.stream = undefined;
    this.done = undefined;
    /** The node of each stream opened, in order. */
    this.nodes = [];
  }

  /** Streams on node `id` too from now on (a node that joined). */
  addNode(id) {
    if (!this.ids.includes(id)) this.ids.push(id);
  }

  resume() {
    return this.token;
  }

  ready(shardCount) {
    return this.token.length >= shardCount;
  }

  clientFor(id) {
    if (!this.clients.has(id)) {
      const transport = createConnectTransport({ baseUrl: this.options.urlOf(id), httpVersion: "1.1" });
      this.clients.set(id, createClient(CacheService, transport));
    }
    return this.clients.get(id);
  }

  pickNode() {
    const open = this.ids.filter((id) => this.options.routable(id));
    const from = open.length > 0 ? open : this.ids;
    return from[Math.floor(this.options.random() * from.length)];
  }

  start() {
    this.done = this.loop();
  }

  async loop() {
    let failures = 0;
    while (!this.stopped) {
      const delivered = await this.streamOnce(this.pickNode());
      if (this.stopped) return;
      failures = delivered ? 1 : failures + 1;
      const backoff = Math.min(1000, 50 * 2 ** Math.min(failures, 5));
      await sleep(backoff / 2 + this.options.random() * (backoff / 2));
    }
  }

  /** One stream on node `id`, until it fails, ends or stays silent: whether it delivered a message. */
  async streamOnce(id) {
    const stream = new AbortController();
    this.stream = stream;
    let silence = setTimeout(() => stream.abort(), WATCH_SILENCE_MS);
    let delivered = false;
    this.opens++;
    this.nodes.push(id);
    const start = this.token;
    try {
      const messages = this.clientFor(id).watch({ key: "", prefix: true, withValues: true, start }, { signal: stream.signal });
      for await (const message of messages) {
        clearTimeout(silence);
        silence = setTimeout(() => stream.abort(), WATCH_SILENCE_MS);
        delivered = true;
        for (const e of message.events) this.push(wireEvent(e));
        if (message.resume.length > 0) this.token = message.resume.map((p) => ({ shard: p.shard, index: p.index, ordinal: p.ordinal }));
      }
      this.errors.set("stream ended", (this.errors.get("stream ended") ?? 0) + 1);
    } catch (err) {
      if (this.stopped) return delivered;
      this.noteError(stream.signal.aborted ? new ConnectError("no message for 15 s", Code.DeadlineExceeded) : err);
      const compacted = compactedOf(err);
      if (compacted) this.compacted.push({ atMs: this.now(), node: id, ...compacted, start });
    } finally {
      clearTimeout(silence);
    }
    return delivered;
  }

  async close() {
    this.closing = true;
    this.stopped = true;
    this.stream?.abort();
    await this.done;
  }
}

function wireEvent(e) {
  const text = e.payload.case === "text" ? e.payload.value : e.payload.case === "value" ? decoder.decode(e.payload.value) : undefined;
  return { shard: e.shard, index: e.index, ordinal: e.ordinal, type: WIRE_TYPES[e.type] ?? "?", key: e.key, version: e.version, text };
}

// ---------------------------------------------------------------------------------------

/**
 * Starts the watchers and waits until each holds a position for every shard (it covers
 * every write made from then on). Returns the watchers not ready within timeoutMs.
 */
export async function startWatchers(watchers, shardCount, timeoutMs) {
  for (const w of watchers) w.start();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && watchers.some((w) => !w.ready(shardCount) && !w.ended)) await sleep(50);
  return watchers.filter((w) => !w.ready(shardCount));
}

/** The STRONG state of `keys` now, through the nodes' own ports: key → { found, text, version, position }; keys it could not read are left out. */
export async function readKeys(cluster, keys) {
  const out = new Map();
  for (let i = 0; i < keys.length; i += 100) {
    const batch = keys.slice(i, i + 100);
    for (let attempt = 0; attempt < 6; attempt++) {
      const up = [...cluster.members.values()].filter((m) => m.state === "up");
      if (up.length === 0) break;
      const m = up[(i / 100 + attempt) % up.length];
      try {
        const res = await cluster.control.get(m.id).cache.mGet({ keys: batch, consistency: Consistency.STRONG }, { timeoutMs: 5000 });
        batch.forEach((key, j) => out.set(key, readState(res.results[j])));
        break;
      } catch {
        await sleep(300 * (attempt + 1));
      }
    }
  }
  return out;
}

function readState(r) {
  const text = r.payload.case === "text" ? r.payload.value : r.payload.case === "value" ? decoder.decode(r.payload.value) : undefined;
  const position = r.position ? { shard: r.position.shard, index: r.position.index, ordinal: r.position.ordinal } : undefined;
  return r.found ? { found: true, text, version: r.version, position } : { found: false, position };
}

/**
 * After healing, with the workload stopped: reads every key of the history (STRONG), then
 * waits, at most timeoutMs, until each watcher has caught up with the reads (pending() of
 * its snapshot is empty). Returns the reads and the time waited.
 * @param {(snapshot: any, finals: Map<string, any>) => string[]} pending  keys a watcher has not caught up on
 */
export async function settleWatchers(cluster, history, watchers, pending, timeoutMs) {
  const started = performance.now();
  const keys = [...history.keys.keys()];
  const finals = await readKeys(cluster, keys);
  for (;;) {
    const behind = watchers.filter((w) => !w.ended).some((w) => pending(w.snapshot(), finals).length > 0);
    if (!behind || performance.now() - started >= timeoutMs) {
      return { finals, unread: keys.filter((k) => !finals.has(k)), waitedMs: performance.now() - started, caughtUp: !behind };
    }
    await sleep(200);
  }
}
