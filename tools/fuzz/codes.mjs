// Status codes: their names, the per-method list docs/api-errors.md allows, and how a
// client maps an HTTP status without an RPC code to one (Connect and gRPC agree).
import { existsSync, readFileSync } from "node:fs";

/** Connect/gRPC code names by number (0 is ok). */
export const CODE_NAMES = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

export const KNOWN_CODES = new Set(CODE_NAMES);

/** Codes that must never reach a client, whatever the doc says. */
export const FORBIDDEN_CODES = new Set(["internal", "unknown"]);

export function codeName(n) {
  return CODE_NAMES[n] ?? `code_${n}`;
}

/** Every RPC the fuzzer calls, by the method name the doc's table uses. */
export const METHODS = {
  "distcache.v1.CacheService": ["Get", "Set", "Delete", "MGet", "MSet", "MDelete", "Incr", "Batch", "Watch", "Stats"],
  "distcache.v1.ClusterService": ["GetTopology", "WatchTopology", "AddNode", "RemoveNode", "TransferLeader", "ConfigureStore"],
};

export const ALL_METHODS = Object.values(METHODS).flat();

/** The code a Connect or gRPC client derives from an HTTP status that carries no RPC code. */
export function codeFromHttpStatus(status) {
  switch (status) {
    case 200:
      return "ok";
    case 400:
      return "internal";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "unimplemented";
    case 429:
    case 502:
    case 503:
    case 504:
      return "unavailable";
    default:
      return "unknown";
  }
}

/**
 * Reads the summary table of docs/api-errors.md: rows "| `Method` | `code`, `code`, ... |".
 * Throws when the file, the table or a row for one of `methods` is missing, or a row
 * names a code that does not exist.
 * @returns {Map<string, Set<string>>}
 */
export function loadAllowedCodes(path, methods = ALL_METHODS) {
  if (!existsSync(path)) throw new Error(`${path} does not exist: the fuzzer checks every response against its table of codes per method`);
  const allowed = new Map();
  const problems = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^\s*\|\s*`([A-Za-z]+)`\s*\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const codes = [...m[2].matchAll(/`([a-z_]+)`/g)].map((c) => c[1]);
    if (codes.length === 0) continue;
    for (const code of codes) if (!KNOWN_CODES.has(code)) problems.push(`row ${m[1]} names an unknown code "${code}"`);
    allowed.set(m[1], new Set([...(allowed.get(m[1]) ?? []), ...codes]));
  }
  if (allowed.size === 0) throw new Error(`${path} has no table of codes per method (rows like "| \`Set\` | \`ok\`, \`invalid_argument\` |")`);
  for (const method of methods) if (!allowed.has(method)) problems.push(`no row for ${method}`);
  if (problems.length > 0) throw new Error(`${path}: ${problems.join("; ")}`);
  return allowed;
}
