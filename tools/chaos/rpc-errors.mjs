// What a failed raw RPC says about a write: not applied, answered (a condition that did
// not hold), or of unknown outcome. Conservative by design: only an error that proves
// the write did not take effect is "notApplied" (the rules of the SDK's retry policy,
// packages/client/README.md, Retry rules); anything unexplained is "indeterminate", so
// the checkers never assume less happened than may have.
import { Code, ConnectError } from "@connectrpc/connect";
import { NotLeaderSchema, SessionExpiredSchema, SessionResultForgottenSchema } from "@distcache/proto";

const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"]);

/** Lower-case snake name of a Connect code ("deadline_exceeded"). */
export function codeName(code) {
  return (Code[code] ?? `code_${code}`).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

function causeCodes(err) {
  const codes = [];
  for (let e = err, i = 0; e instanceof Error && i < 8; e = e.cause, i++) if (e.code !== undefined) codes.push(String(e.code));
  return codes;
}

/** True when a node answered (the error carries response headers), not the transport. */
function answered(err) {
  return err.metadata?.has("content-type") === true;
}

/**
 * @param {unknown} raw
 * @returns {{ verdict: "notApplied" | "rejected" | "indeterminate" | "sessionExpired" | "resultForgotten", code: string, message: string, notLeader: boolean }}
 */
export function classifyWriteError(raw) {
  const err = ConnectError.from(raw);
  const code = labelOf(err);
  const message = err.rawMessage.slice(0, 200);
  const out = (verdict, notLeader = false) => ({ verdict, code, message, notLeader });
  if (err.code === Code.FailedPrecondition || err.code === Code.Unavailable) {
    if (err.findDetails(NotLeaderSchema).length > 0) return out("notApplied", true);
  }
  if (err.code === Code.FailedPrecondition) {
    if (err.findDetails(SessionExpiredSchema).length > 0) return out("sessionExpired");
    if (err.findDetails(SessionResultForgottenSchema).length > 0) return out("resultForgotten");
    // A version that did not match (or a value that is not a counter): answered, not applied.
    return answered(err) ? out("rejected") : out("indeterminate");
  }
  if (err.code === Code.AlreadyExists && answered(err)) return out("rejected");
  // Every resource_exhausted a node answers means nothing was done ("retry later", the
  // bound on requests in flight, "too many unacknowledged writes").
  if (err.code === Code.ResourceExhausted && answered(err)) return out("notApplied");
  if (err.code === Code.InvalidArgument && answered(err)) return out("notApplied");
  if (err.code === Code.Unavailable) {
    if (/may or may not/i.test(err.rawMessage)) return out("indeterminate");
    const refused = causeCodes(err).some((c) => NOT_CONNECTED.has(c)) || /ECONNREFUSED|connection refused/i.test(err.rawMessage);
    if (refused || /REFUSED_STREAM/.test(err.rawMessage) || /\bretry\b/i.test(err.rawMessage)) return out("notApplied");
  }
  return out("indeterminate");
}

/** A failure's label: its code, prefixed "transport " when no node answered (the client's own transport failed). */
function labelOf(err) {
  return answered(err) ? codeName(err.code) : `transport ${codeName(err.code)}`;
}

/** The label of any failed RPC, for the report. */
export function errorCode(raw) {
  return labelOf(ConnectError.from(raw));
}

/** Codes a node never answers with (docs/api-errors.md): each one is a bug. */
export const FORBIDDEN_ANSWERS = new Set(["internal", "unknown"]);
