import { create, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { ConnectError, type Code, type HandlerContext } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { BatchResultSchema, CacheService, CallErrorSchema, type BatchCall, type BatchResult, type CallError } from "@distcache/proto";
import { DEADLINE_MS_MAX } from "../http/deadline.js";
import { answerableError } from "../http/rpc-error-response.js";
import { ANSWER_BUDGET, AnswerBudget, type BudgetedContext } from "./cache-reads.js";
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

/**
 * Batch: every call runs through its own handler, concurrently, with a context of its own
 * (its method, its deadline), so it is validated, routed and answered exactly as if it
 * had been sent alone. A call's failure becomes its CallError; the batch itself fails only
 * when it is malformed as a whole (no calls, or more than batch_keys_max). The Gets of one
 * batch share one answer budget (--response-bytes-max), as the keys of one MGet do.
 */
export function batchHandler(deps: CacheServiceDeps, handlers: BatchableHandlers): CacheHandler<"batch"> {
  return async (req, ctx) => {
    validateBatch(req.calls.length, deps.limits, "calls");
    const budget = new AnswerBudget(deps.limits.responseBytesMax);
    const startedMs = performance.now();
    const outcomes = await Promise.all(req.calls.map((call, i) => runCall(handlers, call, i, callContext(ctx, call, startedMs, budget))));
    // Counted in call order once all have ended.
    req.calls.forEach((call, i) => deps.onBatchCall?.(call.call.case === undefined ? "unset" : METHODS[call.call.case].name, outcomes[i]!.code));
    return { results: outcomes.map((o) => o.result) };
  };
}

/** Runs one call through its kind's handler: its result, and its code (undefined for success) for the node's metrics. */
async function runCall(
  handlers: BatchableHandlers,
  call: BatchCall,
  index: number,
  ctx: HandlerContext,
): Promise<{ result: BatchResult; code: Code | undefined }> {
  const kind = call.call.case;
  try {
    const result = await guard(async () => {
      if (kind === undefined) throw invalidArgument(`calls[${index}] sets no call (one of get, set, delete, incr)`);
      // The union of the four handlers takes the union of their requests: each gets its own.
      const handler = handlers[kind] as (req: unknown, ctx: HandlerContext) => unknown;
      return { case: kind, value: create(METHODS[kind].output as DescMessage, (await handler(call.call.value, ctx)) as never) };
    });
    return { result: create(BatchResultSchema, { result: result as BatchResult["result"] }), code: undefined };
  } catch (err) {
    const failure = ConnectError.from(err);
    return { result: create(BatchResultSchema, { result: { case: "error", value: callError(failure) } }), code: failure.code };
  }
}

/** The error as a CallError: its code and message (bounded as any answered error's), and every detail encoded in binary. */
export function callError(refusal: ConnectError): CallError {
  const err = answerableError(refusal);
  const details = err.details.map((detail) =>
    "desc" in detail
      ? { type: detail.desc.typeName, value: toBinary(detail.desc as DescMessage, create(detail.desc as DescMessage, detail.value as never)) }
      : { type: detail.type, value: detail.value },
  );
  return create(CallErrorSchema, { code: codeToString(err.code), message: err.rawMessage, details });
}

/**
 * A call's context: its own method, and a deadline that is the call's timeout_ms (from
 * when the batch was read) or the batch's, whichever comes first, and the batch's answer
 * budget. The abort signal is built only if the handler asks for it, as on the unary
 * fast path.
 */
function callContext(parent: HandlerContext, call: BatchCall, startedMs: number, budget: AnswerBudget): BudgetedContext {
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
  const ctx: BudgetedContext = {
    [ANSWER_BUDGET]: budget,
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
