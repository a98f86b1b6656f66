import { create, fromBinary, fromJson, toBinary, toJson, type DescMessage, type DescMethod, type DescService, type JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes, parseTimeout } from "@connectrpc/connect/protocol-connect";
import { endedWithoutBody } from "./http-server.js";
import { answerableError } from "./rpc-error-response.js";
import type { AnyRequest, AnyResponse } from "./node-http-types.js";
import { UnaryCallContext } from "../routing/unary-call-context.js";

type UnaryFn = (req: never, ctx: HandlerContext) => unknown;

export interface UnaryFastPathOptions {
  requestBytesMax: number;
  jsonOptions: Partial<JsonReadOptions>;
  /** Called once per finished call, like the metrics interceptor on the stock path. */
  observe: (method: string, code: Code | undefined, seconds: number) => void;
  /** Upper bound for connect-timeout-ms. */
  timeoutMsMax?: number;
}

interface Route {
  service: DescService;
  method: DescMethod & { input: DescMessage; output: DescMessage };
  impl: UnaryFn;
}

/**
 * The unary fast path: a handler for the common case of the Connect protocol, a unary
 * POST with an uncompressed binary or JSON body. It decodes, calls the same service
 * implementation and encodes exactly as the stock Connect handler does (tests compare
 * both), skipping its generic stream plumbing. Everything else (gRPC, gRPC-Web, GET, compression,
 * streaming) returns false and goes to the stock handler.
 *
 * A malformed request body is invalid_argument, as on the stock handler (see
 * stock-handler.ts, which maps connect-es's internal code for decode failures).
 */
export function createUnaryFastPath(services: { service: DescService; impl: Record<string, unknown> }[], options: UnaryFastPathOptions) {
  const routes = new Map<string, Route>();
  for (const { service, impl } of services) {
    for (const method of service.methods) {
      const fn = impl[method.localName];
      if (method.methodKind === "unary" && typeof fn === "function") {
        routes.set(`/${service.typeName}/${method.name}`, { service, method, impl: fn as UnaryFn });
      }
    }
  }

  return (req: AnyRequest, res: AnyResponse): boolean => {
    if (req.method !== "POST") return false;
    const route = routes.get(req.url ?? "");
    if (!route) return false;
    const binary = isContentType(req.headers["content-type"], "application/proto");
    if (!binary && !isContentType(req.headers["content-type"], "application/json")) return false;
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const version = req.headers["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false;
    const timeout = parseTimeout(headerString(req.headers["connect-timeout-ms"]), options.timeoutMsMax ?? Number.MAX_SAFE_INTEGER);
    if (timeout.error) return false;
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > options.requestBytesMax) {
      reject(res, tooLarge(declared, options.requestBytesMax), route, options, performance.now());
      return true;
    }
    readBody(req, options.requestBytesMax).then(
      (body) => void call(route, body, binary, timeout.timeoutMs, req, res, options),
      (err: unknown) => reject(res, ConnectError.from(err), route, options, performance.now()),
    );
    return true;
  };
}

async function call(
  route: Route,
  body: Uint8Array,
  binary: boolean,
  timeoutMs: number | undefined,
  req: AnyRequest,
  res: AnyResponse,
  options: UnaryFastPathOptions,
): Promise<void> {
  const started = performance.now();
  try {
    const input = decode(route.method.input, body, binary, options.jsonOptions);
    const ctx = lazyContext(route, req, res, timeoutMs, started);
    const output = createMessage(route.method.output, (await route.impl(input as never, ctx)) as Record<string, unknown>);
    const out = binary ? toBinary(route.method.output, output) : Buffer.from(JSON.stringify(toJson(route.method.output, output)));
    res.statusCode = 200;
    res.setHeader("content-type", binary ? "application/proto" : "application/json");
    for (const [k, v] of ctx.sentHeaders()) res.setHeader(k, v);
    res.end(out);
    options.observe(route.method.name, undefined, (performance.now() - started) / 1000);
  } catch (err) {
    reject(res, ConnectError.from(err), route, options, started);
  }
}

function decode(desc: DescMessage, body: Uint8Array, binary: boolean, jsonOptions: Partial<JsonReadOptions>): unknown {
  if (binary) {
    try {
      return fromBinary(desc, body);
    } catch (e) {
      throw new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.InvalidArgument);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (e) {
    throw new ConnectError(`cannot decode message ${desc.typeName} from JSON: ${e instanceof Error ? e.message : String(e)}`, Code.InvalidArgument);
  }
  try {
    return fromJson(desc, json as never, jsonOptions);
  } catch (e) {
    throw new ConnectError(e instanceof Error ? e.message : String(e), Code.InvalidArgument);
  }
}

/** Handlers may return a message or a plain init object, as with the stock handler. */
function createMessage(desc: DescMessage, init: Record<string, unknown>) {
  return init["$typeName"] === desc.typeName ? (init as never) : create(desc, init as never);
}

function reject(res: AnyResponse, refusal: ConnectError, route: Route, options: UnaryFastPathOptions, started: number): void {
  const err = answerableError(refusal);
  if (!res.headersSent) {
    res.statusCode = codeToHttpStatus(err.code);
    res.setHeader("content-type", "application/json");
    err.metadata.forEach((v, k) => res.setHeader(k, v));
    res.end(errorToJsonBytes(err, {}));
  }
  options.observe(route.method.name, err.code, (performance.now() - started) / 1000);
}

/** The stock handler's refusal, word for word (connect-es calls the bound readMaxBytes). */
function tooLarge(actual: number, bytesMax: number): ConnectError {
  return new ConnectError(`message size ${actual} is larger than configured readMaxBytes ${bytesMax}`, Code.ResourceExhausted);
}

/**
 * Reads a whole request body. It settles exactly once and then removes its listeners:
 * with the body, with resource_exhausted above requestBytesMax, or with canceled if the
 * request ends first (the client went away or reset the stream, or the server cut a
 * body that missed its deadline: see --body-timeout-ms in http-server.ts).
 */
function readBody(req: AnyRequest, requestBytesMax: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const fail = (err: ConnectError): void => {
      cleanup();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > requestBytesMax) {
        fail(tooLarge(total, requestBytesMax));
        // Drain the rest, so the connection can carry the answer and later requests.
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (endedWithoutBody(req)) return onClose();
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => fail(new ConnectError(`reading request: ${err.message}`, Code.Canceled));
    const onClose = (): void => fail(new ConnectError("the request ended before its body was complete", Code.Canceled));
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
}

/** The context of a call on the fast path: its signal also fires when the client goes away. */
function lazyContext(route: Route, req: AnyRequest, res: AnyResponse, timeoutMs: number | undefined, startedMs: number): UnaryCallContext {
  return new UnaryCallContext({
    method: route.method,
    service: route.service,
    url: req.url ?? "",
    protocolName: "connect",
    timeoutMs,
    startedMs,
    armSignal: (c) => {
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => c.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);
        res.once("close", () => clearTimeout(timer));
      }
      res.once("close", () => {
        if (!res.writableFinished) c.abort(new ConnectError("the client went away", Code.Canceled));
      });
    },
    requestHeader: () => headersOf(req),
  });
}

function isContentType(value: string | undefined, type: string): boolean {
  if (value === undefined) return false;
  if (value === type) return true;
  const [base, ...params] = value.toLowerCase().split(";");
  return base?.trim() === type && params.every((p) => /^\s*charset=utf-8\s*$/.test(p));
}

function headerString(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? (value[0] ?? null) : value;
}

function headersOf(req: AnyRequest): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return headers;
}
