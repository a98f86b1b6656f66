import type { DescMessage, DescMethod, DescMethodUnary, DescService, MessageInitShape } from "@bufbuild/protobuf";
import { create, toBinary } from "@bufbuild/protobuf";
import { createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

export interface UnaryCallInit {
  method: DescMethod;
  service: DescService;
  url: string;
  protocolName: string;
  /** The call's deadline in milliseconds from `startedMs` (performance.now()); undefined for none. */
  timeoutMs: number | undefined;
  startedMs: number;
  /** Arms the abort signal, the first time the implementation asks for it: at the deadline, and when the caller goes away. */
  armSignal: (controller: AbortController) => void;
  requestHeader: () => Headers;
}

/**
 * The HandlerContext of a unary call, for the client port's fast path and for calls
 * forwarded on peer links. Its costly parts (the abort signal and its timers, header
 * objects) are built only if the implementation touches them: most calls never do, and
 * building them eagerly cost about a tenth of the request path. A class, so every call's
 * context shares one shape and its accessors live on the prototype.
 */
export class UnaryCallContext implements HandlerContext {
  readonly requestMethod = "POST";
  private controller: AbortController | undefined;
  private requestHeaders: Headers | undefined;
  private responseHeaders: Headers | undefined;
  private responseTrailers: Headers | undefined;
  private contextValues: ContextValues | undefined;

  constructor(private readonly init: UnaryCallInit) {}

  get method(): DescMethod {
    return this.init.method;
  }

  get service(): DescService {
    return this.init.service;
  }

  get url(): string {
    return this.init.url;
  }

  get protocolName(): string {
    return this.init.protocolName;
  }

  /** Whole milliseconds: the value may travel on as a connect-timeout-ms header, which must be an integer. */
  timeoutMs(): number | undefined {
    const { timeoutMs, startedMs } = this.init;
    return timeoutMs === undefined ? undefined : Math.max(0, Math.floor(timeoutMs - (performance.now() - startedMs)));
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      this.init.armSignal(this.controller);
    }
    return this.controller.signal;
  }

  get requestHeader(): Headers {
    return (this.requestHeaders ??= this.init.requestHeader());
  }

  get responseHeader(): Headers {
    return (this.responseHeaders ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.responseTrailers ??= new Headers());
  }

  get values(): ContextValues {
    return (this.contextValues ??= createContextValues());
  }

  /** The response headers the implementation set, trailers as Connect sends them in a unary answer ("trailer-" prefixed). */
  sentHeaders(): [string, string][] {
    return [
      ...(this.responseHeaders ? [...this.responseHeaders] : []),
      ...(this.responseTrailers ? [...this.responseTrailers].map(([k, v]): [string, string] => [`trailer-${k}`, v]) : []),
    ];
  }
}

/** A unary call's request in binary protobuf, from a message or a plain init object. */
export function encodeUnaryInput<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>): Uint8Array {
  const isMessage = typeof input === "object" && input !== null && (input as { $typeName?: string }).$typeName === method.input.typeName;
  return toBinary(method.input, isMessage ? (input as never) : create(method.input, input));
}
