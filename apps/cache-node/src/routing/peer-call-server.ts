import { create, fromBinary, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { CacheService } from "@distcache/proto";
import type { ForwardedCall } from "@distcache/proto/raft";
import { encodeForwardedAnswer } from "../peer/wire/forwarded-calls-wire.js";
import { PEER_FORWARDED_METHODS, TIMER_MS_MAX, type PeerLinks } from "./peer-calls.js";
import { UnaryCallContext } from "./unary-call-context.js";

type UnaryFn = (req: never, ctx: HandlerContext) => unknown;
type Method = DescMethod & { input: DescMessage; output: DescMessage };

/** Forwarded calls this node runs at once for all its peers, by default. */
export const PEER_CALLS_SERVED_MAX = 4096;

export interface PeerCallServerOptions {
  /** Called once per finished call, as for calls on the client port. */
  observe?: (method: string, code: Code | undefined, seconds: number) => void;
  servedMax?: number;
  /** The largest request taken, as --request-bytes-max bounds a client's. */
  requestBytesMax?: number;
}

/**
 * The receiving half of forwarding on peer links: runs a call another node forwarded
 * with the same CacheService implementation a client's call reaches, and sends the
 * outcome back on the link to that node. Every outcome is an answer, refusals included
 * (an unknown method, a request that does not decode, too many calls at once), so the
 * sender never waits out its deadline for a call this node saw.
 */
export class PeerCallServer {
  /** Forwarded calls answered (run, whatever their outcome, or refused before running); answers the link to the caller did not take. */
  readonly stats = { served: 0, answersDropped: 0 };
  private impl: Record<string, unknown> | undefined;
  private serving = 0;
  private readonly methods = new Map<string, Method>();

  constructor(
    private readonly links: PeerLinks,
    private readonly options: PeerCallServerOptions = {},
  ) {
    for (const method of CacheService.methods) {
      if (method.methodKind === "unary" && PEER_FORWARDED_METHODS.has(method.name)) this.methods.set(method.name, method);
    }
  }

  /** Starts serving with the node's CacheService implementation; calls before that are refused, unavailable. */
  serve(impl: Record<string, unknown>, options: Pick<PeerCallServerOptions, "observe" | "requestBytesMax"> = {}): void {
    this.impl = impl;
    Object.assign(this.options, options);
  }

  /** Calls running now. */
  running(): number {
    return this.serving;
  }

  run(from: string, call: ForwardedCall): void {
    const started = performance.now();
    const method = this.methods.get(call.method);
    this.stats.served++;
    void this.outcome(method, call).then(
      (response) => {
        this.answer(from, encodeForwardedAnswer({ id: call.id, response }));
        this.options.observe?.(call.method, undefined, (performance.now() - started) / 1000);
      },
      (err: unknown) => {
        const e = ConnectError.from(err);
        this.answer(from, errorAnswer(call.id, e));
        if (method) this.options.observe?.(call.method, e.code, (performance.now() - started) / 1000);
      },
    );
  }

  private answer(to: string, frame: Uint8Array): void {
    if (!this.links.send(to, frame)) this.stats.answersDropped++;
  }

  private async outcome(method: Method | undefined, call: ForwardedCall): Promise<Uint8Array> {
    if (!method) throw new ConnectError(`${JSON.stringify(call.method.slice(0, 64))} is not a method forwarded on peer links`, Code.Unimplemented);
    const fn = this.impl?.[method.localName];
    if (typeof fn !== "function") throw new ConnectError("the node is starting; retry", Code.Unavailable);
    const bytesMax = this.options.requestBytesMax;
    if (bytesMax !== undefined && call.request.length > bytesMax) {
      throw new ConnectError(`message size ${call.request.length} is larger than configured readMaxBytes ${bytesMax}`, Code.ResourceExhausted);
    }
    const servedMax = this.options.servedMax ?? PEER_CALLS_SERVED_MAX;
    if (this.serving >= servedMax) throw new ConnectError(`the node is running ${servedMax} forwarded calls, its limit; retry later`, Code.ResourceExhausted);
    let input: unknown;
    try {
      input = fromBinary(method.input, call.request);
    } catch (e) {
      throw new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.InvalidArgument);
    }
    this.serving++;
    const ctx = forwardedCallContext(method, call.timeoutMs === 0 ? undefined : Math.min(call.timeoutMs, TIMER_MS_MAX));
    try {
      const output = (await (fn as UnaryFn)(input as never, ctx.ctx)) as Record<string, unknown>;
      const message = output["$typeName"] === method.output.typeName ? (output as never) : create(method.output, output as never);
      return toBinary(method.output, message);
    } finally {
      this.serving--;
      ctx.done();
    }
  }
}

/** The answer for a call that failed with `e`; an error whose details do not encode is answered without them. */
function errorAnswer(id: bigint, e: ConnectError): Uint8Array {
  const fields = { id, errorCode: codeToString(e.code), errorMessage: e.rawMessage };
  try {
    const errorDetails = e.details.map((d) =>
      "desc" in d ? { type: d.desc.typeName, value: toBinary(d.desc, create(d.desc, d.value)) } : { type: d.type, value: d.value },
    );
    return encodeForwardedAnswer({ ...fields, errorDetails });
  } catch {
    return encodeForwardedAnswer(fields);
  }
}

/**
 * The context of a forwarded call: its deadline counts from its arrival here, and its
 * abort signal fires at that deadline. It carries no HTTP headers: a forwarded call's
 * session and options are in its request.
 */
function forwardedCallContext(method: Method, timeoutMs: number | undefined): { ctx: HandlerContext; done: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const ctx = new UnaryCallContext({
    method,
    service: CacheService,
    url: `/${CacheService.typeName}/${method.name}`,
    protocolName: "distcache-peer",
    timeoutMs,
    startedMs: performance.now(),
    armSignal: (c) => {
      if (timeoutMs !== undefined) timer = setTimeout(() => c.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);
    },
    requestHeader: () => new Headers(),
  });
  return { ctx, done: () => clearTimeout(timer) };
}
