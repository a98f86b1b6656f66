/** A parsed command-line value, or why it is not one; parsers never throw. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(error: string): Parsed<T> => ({ ok: false, error });

export const DEFAULT_ENDPOINT = "http://127.0.0.1:7301";
export const ENDPOINTS_ENV = "DISTCACHE_ENDPOINTS";
/** Longest deadline the CLI accepts for one command, in milliseconds. */
export const TIMEOUT_MS_MAX = 600_000;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** A comma-separated list of http(s) base URLs. */
export function parseEndpoints(text: string): Parsed<string[]> {
  const urls = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (urls.length === 0) return fail("expected one or more URLs separated by commas, such as http://127.0.0.1:7301");
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return fail(`"${url}" is not a URL (expected e.g. http://127.0.0.1:7301)`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return fail(`"${url}" must start with http:// or https://`);
  }
  return ok(urls);
}

/** The flag if given, else DISTCACHE_ENDPOINTS, else the local default node. */
export function resolveEndpoints(flag: string[] | undefined, env: Record<string, string | undefined>): Parsed<string[]> {
  if (flag) return ok(flag);
  const fromEnv = env[ENDPOINTS_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    const parsed = parseEndpoints(fromEnv);
    return parsed.ok ? parsed : fail(`${ENDPOINTS_ENV}: ${parsed.error}`);
  }
  return ok([DEFAULT_ENDPOINT]);
}

function parseInteger(text: string): bigint | undefined {
  return /^[+-]?\d+$/.test(text.trim()) ? BigInt(text.trim()) : undefined;
}

/** A whole number of milliseconds in [min, max]. */
export function parseMilliseconds(text: string, min: number, max: number): Parsed<number> {
  const n = parseInteger(text);
  if (n === undefined || n < BigInt(min) || n > BigInt(max)) return fail(`expected a whole number of milliseconds from ${min} to ${max}, got "${text}"`);
  return ok(Number(n));
}

/** A shard number: a non-negative integer (the server checks it against the shard count). */
export function parseShard(text: string): Parsed<number> {
  const n = parseInteger(text);
  if (n === undefined || n < 0n || n > 4095n) return fail(`expected a shard number from 0 to 4095, got "${text}"`);
  return ok(Number(n));
}

export const EVICTION_POLICIES = ["lru", "lfu", "fifo", "random"] as const;
export type EvictionPolicyName = (typeof EVICTION_POLICIES)[number];

/** An eviction policy name (lowercase or not). */
export function parsePolicy(text: string): Parsed<EvictionPolicyName> {
  const name = text.trim().toLowerCase();
  return (EVICTION_POLICIES as readonly string[]).includes(name)
    ? ok(name as EvictionPolicyName)
    : fail(`expected one of ${EVICTION_POLICIES.join(", ")}, got "${text}"`);
}

/** A store bound (keys or bytes per shard): an integer from 1 to 2^53 - 1. */
export function parseBound(text: string): Parsed<bigint> {
  const n = parseInteger(text);
  if (n === undefined || n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`expected an integer from 1 to 2^53-1, got "${text}"`);
  return ok(n);
}

/** A key version: an unsigned 64-bit integer (0 means absent). */
export function parseVersion(text: string): Parsed<bigint> {
  const n = parseInteger(text);
  if (n === undefined || n < 0n || n > UINT64_MAX) return fail(`expected a version (an integer from 0 to 2^64-1), got "${text}"`);
  return ok(n);
}

/** A counter delta: a signed 64-bit integer. */
export function parseDelta(text: string): Parsed<bigint> {
  const n = parseInteger(text);
  if (n === undefined || n < INT64_MIN || n > INT64_MAX) return fail(`expected a signed 64-bit integer, got "${text}"`);
  return ok(n);
}

/** Node ids as nodes accept them: 1 to 64 of A-Z, a-z, 0-9, "_", "." and "-". */
const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A node id. */
export function parseNodeId(text: string): Parsed<string> {
  return NODE_ID.test(text) ? ok(text) : fail(`expected a node id (1 to 64 of A-Z, a-z, 0-9, "_", "." and "-"), got "${text}"`);
}

/** host:port as nodes accept it: a name, an IPv4 address or a bracketed IPv6 one; a port from 1 to 65535; at most 255 characters. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** A node address, host:port (no scheme). */
export function parseHostPort(text: string): Parsed<string> {
  const match = HOST_PORT.exec(text);
  const port = match ? Number(match[2]) : 0;
  if (text.length > 255 || port < 1 || port > 65_535)
    return fail(`expected host:port with a port from 1 to 65535, such as 10.0.0.4:7301, got "${text.slice(0, 80)}"`);
  return ok(text);
}

/** An admin token: 64 hex digits, returned in lowercase (the form nodes compare). The message never quotes it. */
export function parseAdminToken(text: string): Parsed<string> {
  const token = text.trim();
  if (!/^[0-9A-Fa-f]{64}$/.test(token)) return fail(`expected 64 hex digits, got ${token.length} characters`);
  return ok(token.toLowerCase());
}
