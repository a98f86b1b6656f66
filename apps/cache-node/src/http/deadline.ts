import type http from "node:http";

/**
 * The longest deadline a call keeps: Node's timers hold at most 2^31 − 1 ms (about 24.8
 * days), and a longer one fires at once. A caller's deadline beyond it (gRPC allows up
 * to 99,999,999 hours) is served as this one, which for a cache is the same as none.
 */
export const DEADLINE_MS_MAX = 2 ** 31 - 1;

const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * Rewrites a request's deadline header (connect-timeout-ms, or grpc-timeout for gRPC and
 * gRPC-Web) in place when it asks for more than DEADLINE_MS_MAX, so that every handler
 * and every call forwarded on its behalf sees a deadline its timers can hold. A header
 * that does not parse is left for the protocol handler to refuse.
 */
export function clampDeadlineHeaders(headers: http.IncomingHttpHeaders): void {
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string" && /^\d{1,10}$/.test(connect) && Number(connect) > DEADLINE_MS_MAX) {
    headers["connect-timeout-ms"] = String(DEADLINE_MS_MAX);
  }
  const grpc = headers["grpc-timeout"];
  const parsed = typeof grpc === "string" ? /^(\d{1,8})([HMSmun])$/.exec(grpc) : null;
  if (parsed && Number(parsed[1]) * GRPC_UNIT_MS[parsed[2]!]! > DEADLINE_MS_MAX) {
    headers["grpc-timeout"] = `${Math.floor(DEADLINE_MS_MAX / 1000)}S`;
  }
}
