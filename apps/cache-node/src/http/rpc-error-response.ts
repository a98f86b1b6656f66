import { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, endStreamFlag, endStreamToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { AnyRequest, AnyResponse } from "./node-http-types.js";

export type RpcProtocol = "grpc" | "grpc-web" | "connect-stream" | "connect";

/** The RPC protocol a request speaks, told by its content type (as connect-es tells it). */
export function rpcProtocolOf(req: AnyRequest): RpcProtocol {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  if (type.startsWith("application/connect+")) return "connect-stream";
  return "connect";
}

/**
 * Answers a request with a Connect error in the request's own protocol, without reading
 * its body: a gRPC trailers-only response, a gRPC-Web trailer frame, a Connect
 * end-of-stream message, or a Connect unary error (which is also what GET requests and
 * anything unrecognised get). Used where the node refuses a call before any handler
 * runs (too many requests in flight, a request body that does not arrive in time).
 */
export function writeRpcError(req: AnyRequest, res: AnyResponse, refusal: ConnectError): void {
  if (res.headersSent || res.writableEnded) return;
  const error = answerableError(refusal);
  const binary = !(req.headers["content-type"] ?? "").toLowerCase().includes("json");
  switch (rpcProtocolOf(req)) {
    case "grpc": {
      // Trailers-only: the status travels in the only HEADERS frame.
      const headers = setTrailerStatus(new Headers({ "content-type": binary ? "application/grpc+proto" : "application/grpc+json" }), error);
      res.writeHead(200, Object.fromEntries(headers));
      res.end();
      return;
    }
    case "grpc-web": {
      const trailer = setTrailerStatus(new Headers(), error);
      res.writeHead(200, { "content-type": binary ? "application/grpc-web+proto" : "application/grpc-web+json" });
      res.end(encodeEnvelope(trailerFlag, trailerSerialize(trailer)));
      return;
    }
    case "connect-stream": {
      const endStream = new TextEncoder().encode(JSON.stringify(endStreamToJson(new Headers(), error, undefined)));
      res.writeHead(200, { "content-type": binary ? "application/connect+proto" : "application/connect+json" });
      res.end(encodeEnvelope(endStreamFlag, endStream));
      return;
    }
    case "connect": {
      const body = errorToJsonBytes(error, {});
      const headers: Record<string, string> = { "content-type": "application/json", "content-length": String(body.byteLength) };
      error.metadata.forEach((value, key) => (headers[key] = value));
      res.writeHead(codeToHttpStatus(error.code), headers);
      res.end(body);
      return;
    }
  }
}

/**
 * Headers an error's metadata may never add to its answer: the ones that describe a
 * connection or a body (an error's metadata can hold another node's response headers,
 * and a connection header in an HTTP/2 answer makes Node throw).
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "host",
  "content-type",
  "content-length",
  "content-encoding",
  "date",
]);

/**
 * The longest error message an answer carries, in UTF-8 bytes (before the note of what
 * was cut). Messages quote request fields (an unknown node id, say); one quoting a 70 KB
 * field would make a gRPC grpc-message header larger than clients accept, and
 * percent-encoding triples the bytes.
 */
export const ERROR_MESSAGE_BYTES_MAX = 2048;

const LONE_SURROGATES = /\p{Cs}/gu;

/**
 * The one rule for an error on its way to the wire, whichever path writes it (the unary
 * fast path, the stock handler, or a refusal before any handler): its metadata loses
 * the reserved headers and its message is cut to ERROR_MESSAGE_BYTES_MAX. Code and
 * details are kept.
 */
export function answerableError(error: ConnectError): ConnectError {
  let changed = false;
  const metadata = new Headers();
  error.metadata.forEach((value, key) => {
    if (RESERVED_HEADERS.has(key.toLowerCase()) || key.startsWith(":")) changed = true;
    else metadata.append(key, value);
  });
  let message = error.rawMessage;
  const bytes = Buffer.byteLength(message, "utf8");
  if (bytes > ERROR_MESSAGE_BYTES_MAX) {
    // A character cut in two at the end decodes as U+FFFD.
    message = `${Buffer.from(message, "utf8").subarray(0, ERROR_MESSAGE_BYTES_MAX).toString("utf8")}… (${bytes - ERROR_MESSAGE_BYTES_MAX} more bytes)`;
    changed = true;
  }
  // gRPC percent-encodes the message, which fails on a lone surrogate (one quoted from a
  // request, or left by the cut above).
  const wellFormed = message.replace(LONE_SURROGATES, "\ufffd");
  if (wellFormed !== message) {
    message = wellFormed;
    changed = true;
  }
  if (!changed) return error;
  const out = new ConnectError(message, error.code, metadata, undefined, error.cause);
  // Details decoded from another node's answer are kept as they came.
  out.details = error.details;
  return out;
}
