import type { Transport } from "@connectrpc/connect";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import type { CacheEvent } from "./events.js";
import { sessionIdRefusal } from "./request-checks.js";

/** Makes the transport for one node, given its base URL (for example "http://10.0.0.1:7301"). */
export type TransportFactory = (baseUrl: string) => Transport;

/** Where the SDK reads time; injected so that tests are deterministic. */
export interface Clock {
  nowMs(): number;
}

/** Waits ms milliseconds; injected so that tests need not wait. Resolves early when signal aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface CacheClientOptions {
  /** Builds a transport per node; the runtime entry points pass connect-node's or connect-web's. */
  transport: TransportFactory;
  /** Base URLs to learn the topology from; their scheme is used for every node. */
  seeds: readonly string[];
  /** Default deadline of a call, retries included. */
  timeoutMs?: number;
  /** Attempts per call (per shard, for batches), the first one included. */
  attemptsMax?: number;
  /** Backoff before the first retry that waits; it doubles up to backoffMsMax. */
  backoffMsMin?: number;
  backoffMsMax?: number;
  /** Lifecycle events (leader changes, topology refreshes, retries); an exception it throws is ignored. */
  onEvent?: (event: CacheEvent) => void;
  /** Releases what the transport factory holds (connections); called once by close(). */
  onClose?: () => void | Promise<void>;
  /** Keys in one mget, mset or mdelete; at most the protocol's 10,000. */
  batchKeysMax?: number;
  /**
   * Exactly-once session id for writes (1 to 128 UTF-8 bytes); a random one by default.
   * It is the first session only: when a shard reports it expired, the client continues
   * under a new random one.
   */
  sessionId?: string;
  /**
   * Writes (per shard, for batches) this client keeps in flight at once; a write beyond
   * it waits for one to finish, or fails with ResourceExhaustedError if its deadline
   * passes first. At most 1,024, the results a shard keeps per session.
   */
  writesInFlightMax?: number;
  /**
   * Maps the addresses nodes advertise (host:port, as in the topology and NotLeader
   * answers) to the ones this client dials: a record, or a function that returns the
   * address to dial. For clients behind NAT, port forwarding or a proxy. An address the
   * map does not name is dialled as advertised.
   */
  addressMap?: Readonly<Record<string, string>> | ((address: string) => string);
  /**
   * Keep the routing table current through ClusterService.WatchTopology: one stream to
   * one node, opened after the first call and closed by close(). On by default; with
   * it off, the client refreshes the topology only when a node names another leader
   * or a newer epoch. An open stream keeps a Node.js process running until close().
   */
  watchTopology?: boolean;
  /**
   * Coalesce concurrent get, set, delete and incr calls to one node into one Batch
   * request, sent on the event loop's next turn; each call keeps its own result, session
   * sequence, deadline and retries. A lone call is sent as itself. On by default.
   */
  autoBatch?: boolean;
  clock?: Clock;
  sleep?: Sleep;
  /** Uniform in [0, 1); jitters the backoff. */
  random?: () => number;
}

/** Options after validation, with every default filled in. */
export interface ResolvedOptions {
  transport: TransportFactory;
  seeds: readonly URL[];
  timeoutMs: number;
  attemptsMax: number;
  backoffMsMin: number;
  backoffMsMax: number;
  batchKeysMax: number;
  onEvent: (event: CacheEvent) => void;
  onClose: () => void | Promise<void>;
  sessionId: string;
  writesInFlightMax: number;
  /** The address to dial for an advertised one. */
  dialAddress: (address: string) => string;
  watchTopology: boolean;
  autoBatch: boolean;
  clock: Clock;
  sleep: Sleep;
  random: () => number;
}

export const TIMEOUT_MS_DEFAULT = 5000;
export const TIMEOUT_MS_MAX = 600_000;
export const ATTEMPTS_MAX_DEFAULT = 10;
export const ATTEMPTS_MAX_LIMIT = 100;
export const BACKOFF_MS_MIN_DEFAULT = 25;
export const BACKOFF_MS_MAX_DEFAULT = 1000;
export const BACKOFF_MS_LIMIT = 60_000;
export const BATCH_KEYS_MAX_DEFAULT = 1000;
export const BATCH_KEYS_MAX_LIMIT = PROTOCOL_LIMITS.batchItemsMax;
export const SEEDS_MAX = 1000;
export const WRITES_IN_FLIGHT_MAX_DEFAULT = 512;
/** The results a shard keeps per session by default (the node's resultsPerSessionMax). */
export const WRITES_IN_FLIGHT_MAX_LIMIT = 1024;

const realClock: Clock = { nowMs: () => Date.now() };

const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** Checks that value is an integer in [min, max]; the message names the option and its unit. */
export function checkIntegerInRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
}

function parseSeed(seed: string): URL {
  let url: URL;
  try {
    url = new URL(seed);
  } catch {
    throw new RangeError(`seed ${JSON.stringify(seed)} is not a URL such as http://127.0.0.1:7301`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError(`seed ${seed} must use http: or https:`);
  return url;
}

/** A host:port a URL can be built from, such as 127.0.0.1:7301 or [::1]:7301. */
function isHostPort(address: string): boolean {
  try {
    const url = new URL(`http://${address}`);
    return url.host === address.toLowerCase() && url.port !== "" && url.pathname === "/" && url.search === "" && url.username === "";
  } catch {
    return false;
  }
}

/** The addressMap option as one function; a record's keys and values must be host:port. */
function resolveAddressMap(map: CacheClientOptions["addressMap"]): (address: string) => string {
  if (map === undefined) return (address) => address;
  if (typeof map === "function") {
    return (address) => {
      const mapped = map(address);
      if (typeof mapped !== "string" || !isHostPort(mapped))
        throw new RangeError(`addressMap returned ${JSON.stringify(mapped)} for ${address}: expected host:port`);
      return mapped;
    };
  }
  const entries = new Map<string, string>();
  for (const [from, to] of Object.entries(map)) {
    if (!isHostPort(from)) throw new RangeError(`addressMap key ${JSON.stringify(from)} is not host:port (an address a node advertises)`);
    if (typeof to !== "string" || !isHostPort(to)) throw new RangeError(`addressMap value for ${from} is ${JSON.stringify(to)}: expected host:port`);
    entries.set(from.toLowerCase(), to);
  }
  return (address) => entries.get(address.toLowerCase()) ?? address;
}

/** A session id from the platform's crypto source (randomUUID needs a secure context in browsers). */
export function randomSessionId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A listener that throws must not break the call that reported the event. */
function shielded(listener: ((event: CacheEvent) => void) | undefined): (event: CacheEvent) => void {
  if (!listener) return () => {};
  return (event) => {
    try {
      listener(event);
    } catch {
      // ignored on purpose: events are informational
    }
  };
}

/** Validates limits (with their units) and fills in defaults; throws RangeError on bad options. */
export function resolveOptions(options: CacheClientOptions): ResolvedOptions {
  if (typeof options.transport !== "function") throw new TypeError("transport must be a function (baseUrl) => Transport");
  if (options.seeds.length === 0) throw new RangeError("seeds must hold at least one base URL");
  if (options.seeds.length > SEEDS_MAX) throw new RangeError(`seeds holds ${options.seeds.length} URLs, above ${SEEDS_MAX}`);
  const seeds = options.seeds.map(parseSeed);
  const resolved: ResolvedOptions = {
    transport: options.transport,
    seeds,
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS_DEFAULT,
    attemptsMax: options.attemptsMax ?? ATTEMPTS_MAX_DEFAULT,
    backoffMsMin: options.backoffMsMin ?? BACKOFF_MS_MIN_DEFAULT,
    backoffMsMax: options.backoffMsMax ?? BACKOFF_MS_MAX_DEFAULT,
    batchKeysMax: options.batchKeysMax ?? BATCH_KEYS_MAX_DEFAULT,
    onEvent: shielded(options.onEvent),
    onClose: options.onClose ?? (() => {}),
    sessionId: options.sessionId ?? randomSessionId(),
    writesInFlightMax: options.writesInFlightMax ?? WRITES_IN_FLIGHT_MAX_DEFAULT,
    dialAddress: resolveAddressMap(options.addressMap),
    watchTopology: options.watchTopology ?? true,
    autoBatch: options.autoBatch ?? true,
    clock: options.clock ?? realClock,
    sleep: options.sleep ?? realSleep,
    random: options.random ?? Math.random,
  };
  checkIntegerInRange("timeoutMs", resolved.timeoutMs, 1, TIMEOUT_MS_MAX);
  checkIntegerInRange("attemptsMax", resolved.attemptsMax, 1, ATTEMPTS_MAX_LIMIT);
  checkIntegerInRange("backoffMsMin", resolved.backoffMsMin, 0, BACKOFF_MS_LIMIT);
  checkIntegerInRange("backoffMsMax", resolved.backoffMsMax, resolved.backoffMsMin, BACKOFF_MS_LIMIT);
  checkIntegerInRange("batchKeysMax", resolved.batchKeysMax, 1, BATCH_KEYS_MAX_LIMIT);
  checkIntegerInRange("writesInFlightMax", resolved.writesInFlightMax, 1, WRITES_IN_FLIGHT_MAX_LIMIT);
  const sessionRefusal = sessionIdRefusal(resolved.sessionId);
  if (sessionRefusal !== undefined) throw new RangeError(sessionRefusal);
  return resolved;
}
