import { create, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { ConnectError, type Code, type HandlerContext } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { BatchResultSchema, CacheService, CallErrorSchema, type BatchCall, type BatchResult, type CallError } from "@distcache/proto";
import { DEADLINE_MS_MAX } from "../http/deadline.js";
import { ANSWER_BUDGET, AnswerBudget } from "./cache-reads.js";
import { invalidArgument } from "./connect-errors.js";
import { validateBatch } from "./request-validation.js";
import { guard, type CacheHandler, type CacheServiceDeps } from "./service-support.js";

/** The single-key handlers a Batch runs its calls through. */
export interface BatchableHandlers {
  get: CacheHandler<"get">;
  set: CacheHandler<"set">;
  delete: CacheHandler<"delete">;
  incr: CacheHandler<"incr">;
}

const METHODS = {
  get: CacheService.method.get,
  set: CacheService.method.set,
  delete: CacheService.method.delete,
  incr: CacheService.method.incr,
} as const;
const METHOD_NAMES = { get: "Get", set: "Set", delete: "Delete", incr: "Incr", none: "unset" } as const;

/**
 * Batch: every call runs through its own handler, concurrently, with a context of its own
 * (its method, its deadline), so it is validated, routed and answered exactly as if it
 * had been sent alone. A call's failure becomes its CallError; the batch itself fails only
 * when it is malformed as a whole (no calls, or more than batch_keys_max).
 */
export function batchHandler(deps: CacheServiceDeps, handlers: BatchableHandlers): CacheHandler<"batch"> {
  return async (req, ctx) => {
    validateBatch(req.calls.length, deps.limits, "calls");
    // One answer budget (--response-bytes-max) for every Get of the batch, as for an MGet.
    ctx.values.set(ANSWER_BUDGET, new AnswerBudget(deps.limits.responseBytesMax));
    const startedMs = performance.now();
    const results = await Promise.all(req.calls.map((call, i) => runCall(handlers, call, i, callContext(ctx, call, startedMs))));
    results.forEach((r, i) => deps.onBatchCall?.(METHOD_NAMES[req.calls[i]!.call.case ?? "none"], r.code));
    return { results: results.map((r) => r.result) };
  };
}

/** A call's result, and its code (undefined for success) for the node's metrics. */
async function runCall(
  handlers: BatchableHandlers,
  call: BatchCall,
  index: number,
  ctx: HandlerContext,
): Promise<{ result: BatchResult; code: Code | undefined }> {
  try {
    // Each case hands the handler its own request type; the result keeps the call's case.
    const result: BatchResult["result"] = await guard(async () => {
      switch (call.call.case) {
        case "get":
          return { case: "get", value: create(METHODS.get.output, await handlers.get(call.call.value, ctx)) };
        case "set":
          return { case: "set", value: create(METHODS.set.output, await handlers.set(call.call.value, ctx)) };
        case "delete":
          return { case: "delete", value: create(METHODS.delete.output, await handlers.delete(call.call.value, ctx)) };
        case "incr":
          return { case: "incr", value: create(METHODS.incr.output, await handlers.incr(call.call.value, ctx)) };
        default:
          throw invalidArgument(`calls[${index}] sets no call (one of get, set, delete, incr)`);
      }
    });
    return { result: create(BatchResultSchema, { result }), code: undefined };
  } catch (err) {
    const failure = ConnectError.from(err);
    return { result: create(BatchResultSchema, { result: { case: "error", value: callError(failure) } }), code: failure.code };
  }
}

/** The error as a CallError: its code and message, and every detail encoded in binary. */
export function callError(err: ConnectError): CallError {
  const details = err.details.map((detail) =>
    "desc" in detail
      ? { type: detail.desc.typeName, value: toBinary(detail.desc as DescMessage, create(detail.desc as DescMessage, detail.value as never)) }
      : { type: detail.type, value: detail.value },
  );
  return create(CallErrorSchema, { code: codeToString(err.code), message: err.rawMessage, details });
}

/**
 * A call's context: its own method, and a deadline that is the call's timeout_ms (from
 * when the batch was read) or the batch's, whichever comes first. The abort signal is
 * built only if the handler asks for it, as on the unary fast path.
 */
function callContext(parent: HandlerContext, call: BatchCall, startedMs: number): HandlerContext {
  const method: DescMethod = call.call.case ? METHODS[call.call.case] : parent.method;
  // Clamped as deadline headers are: a longer Node timer would fire at once.
  const ownMs = call.timeoutMs > 0 ? Math.min(call.timeoutMs, DEADLINE_MS_MAX) : undefined;
  const timeoutMs = (): number | undefined => {
    const batchMs = parent.timeoutMs();
    if (ownMs === undefined) return batchMs;
    const left = Math.max(0, Math.floor(ownMs - (performance.now() - startedMs)));
    return batchMs === undefined ? left : Math.min(batchMs, left);
  };
  let signal: AbortSignal | undefined;
  const ctx: HandlerContext = {
    method,
    service: parent.service,
    requestMethod: parent.requestMethod,
    protocolName: parent.protocolName,
    url: parent.url,
    timeoutMs,
    get signal() {
      if (signal === undefined) {
        const left = ownMs === undefined ? undefined : timeoutMs();
        signal = left === undefined ? parent.signal : AbortSignal.any([parent.signal, AbortSignal.timeout(left)]);
      }
      return signal;
    },
    get requestHeader() {
      return parent.requestHeader;
    },
    get responseHeader() {
      return parent.responseHeader;
    },
    get responseTrailer() {
      return parent.responseTrailer;
    },
    get values() {
      return parent.values;
    },
  };
  return ctx;
}
