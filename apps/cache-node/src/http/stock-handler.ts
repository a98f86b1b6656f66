import type { DescService, JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextKey, createContextValues, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { encodeEnvelope, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { IncomingMessage } from "node:http";
import { requestScopeKey, requestScopeOf } from "./connection-scope.js";
import { endedWithoutBody } from "./http-server.js";
import { answerableError } from "./rpc-error-response.js";
import type { AnyRequest, AnyResponse } from "./node-http-types.js";

export interface StockHandlerOptions {
  services: { service: DescService; impl: Record<string, unknown> }[];
  requestBytesMax: number;
  jsonOptions: Partial<JsonReadOptions>;
  interceptors: Interceptor[];
  /** A call that failed after its response had begun (the client went away, or the body deadline cut it). */
  onError?: (err: unknown) => void;
}

/** Set once a unary call's input has decoded and it reaches the interceptors. */
const reachedImplementation = createContextKey(false);

/**
 * The stock connect-es handler (every protocol: Connect, gRPC, gRPC-Web; GET, compression,
 * streaming), with one correction: a request whose body does not decode answers
 * invalid_argument, as on the fast path, in every protocol.
 *
 * connect-es 2.1 reports a binary message that fails to parse (truncated, a bad wire type,
 * invalid UTF-8 in a string) and a compressed gRPC frame without a grpc-encoding as
 * internal, and it does so before any interceptor runs. So a unary call that fails before
 * it reaches the interceptors with code internal failed on its request: its answer, in
 * whichever protocol connect-es wrote it, is rewritten to invalid_argument. For streaming
 * calls the input is decoded behind the interceptors, which map the same errors there.
 */
export function createStockHandler(options: StockHandlerOptions): (req: AnyRequest, res: AnyResponse) => void {
  const router = createConnectRouter({
    readMaxBytes: options.requestBytesMax,
    jsonOptions: options.jsonOptions,
    acceptCompression: [compressionGzip, compressionBrotli],
    interceptors: [markReached, answerableErrors, ...options.interceptors],
  });
  // Each impl belongs to its service; the list erases the pairing, as it does for the fast path.
  for (const { service, impl } of options.services) router.service(service, impl as Partial<ServiceImpl<typeof service>>);
  const paths = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get((req.url ?? "").split("?", 1)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const contextValues = createContextValues().set(requestScopeKey, requestScopeOf(req));
    let uReq;
    try {
      uReq = { ...universalRequestFromNodeRequest(req, res, undefined, contextValues), body: wholeBody(req) };
    } catch (err) {
      res.writeHead(400);
      res.end();
      options.onError?.(err);
      return;
    }
    handler(uReq)
      .then((uRes) => (contextValues.get(reachedImplementation) ? uRes : decodeFailureAsInvalidArgument(uRes)))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((err: unknown) => {
        // Aborted: the client went away. A response already sent or cut (the body
        // deadline answers on its own) leaves nothing to report to the client.
        if (ConnectError.from(err).code !== Code.Aborted) options.onError?.(err);
      });
  };
}

/**
 * The request body, failing (rather than ending) if the client did not send all of it.
 * connect-es stops reading a body over readMaxBytes; an HTTP/1.1 request is then left
 * paused rather than destroyed, so that the server can read the rest and keep the
 * connection for the next request (see drainAfterResponse in http-server.ts). An HTTP/2
 * stream is destroyed, which resets it.
 */
async function* wholeBody(req: AnyRequest): AsyncIterable<Uint8Array> {
  const chunks = req.iterator({ destroyOnReturn: !(req instanceof IncomingMessage) }) as AsyncIterable<Uint8Array>;
  for await (const chunk of chunks) yield chunk;
  if (endedWithoutBody(req)) throw new ConnectError("the request ended before its body was complete", Code.Canceled);
}

/** Every error an implementation throws leaves as answerableError makes it (rpc-error-response.ts). */
const answerableErrors: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    throw err instanceof ConnectError ? answerableError(err) : err;
  }
};

const markReached: Interceptor = (next) => (req) => {
  req.contextValues.set(reachedImplementation, true);
  if (!req.stream) return next(req);
  return next({ ...req, message: decodeErrorsAsInvalidArgument(req.message) });
};

async function* decodeErrorsAsInvalidArgument<T>(input: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* input;
  } catch (err) {
    throw asInvalidArgument(err);
  }
}

function asInvalidArgument(err: unknown): unknown {
  if (!(err instanceof ConnectError) || err.code !== Code.Internal) return err;
  return new ConnectError(err.rawMessage, Code.InvalidArgument, err.metadata, undefined, err.cause);
}

const GRPC_INTERNAL = String(Code.Internal);
const GRPC_INVALID_ARGUMENT = String(Code.InvalidArgument);

/** Rewrites an internal error that connect-es answered before the implementation ran. */
async function decodeFailureAsInvalidArgument(uRes: UniversalServerResponse): Promise<UniversalServerResponse> {
  // gRPC: the status is in the trailers.
  if (uRes.trailer?.get("grpc-status") === GRPC_INTERNAL) {
    uRes.trailer.set("grpc-status", GRPC_INVALID_ARGUMENT);
    return uRes;
  }
  const type = uRes.header?.get("content-type") ?? "";
  if (!uRes.body) return uRes;
  // Connect unary: an HTTP error status with a JSON error body (left alone if compressed).
  if (uRes.status === codeToHttpStatus(Code.Internal) && type.startsWith("application/json") && !uRes.header?.has("content-encoding")) {
    const bytes = await readAll(uRes.body);
    const error = parseJsonObject(bytes);
    if (error?.["code"] !== "internal") return { ...uRes, body: once(bytes) };
    error["code"] = "invalid_argument";
    const body = new TextEncoder().encode(JSON.stringify(error));
    const header = new Headers(uRes.header);
    header.set("content-length", String(body.byteLength));
    return { ...uRes, status: codeToHttpStatus(Code.InvalidArgument), header, body: once(body) };
  }
  // gRPC-Web: a call that never reached its implementation answers one trailer frame.
  // A grpc-encoding in the answer (negotiated from the request's) does not matter: a
  // trailer frame is compressed only above 1 KiB, and the check below leaves one that is.
  if (type.startsWith("application/grpc-web")) {
    const bytes = await readAll(uRes.body);
    if (bytes.length < 5 || bytes[0] !== trailerFlag || bytes.length !== 5 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(1))
      return { ...uRes, body: once(bytes) };
    const trailer = trailerParse(bytes.subarray(5));
    if (trailer.get("grpc-status") !== GRPC_INTERNAL) return { ...uRes, body: once(bytes) };
    trailer.set("grpc-status", GRPC_INVALID_ARGUMENT);
    return { ...uRes, body: once(encodeEnvelope(trailerFlag, trailerSerialize(trailer))) };
  }
  return uRes;
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
