import { createContextKey, type ContextValues } from "@connectrpc/connect";
import http2 from "node:http2";
import type { AnyRequest } from "./node-http-types.js";

/** The request being handled, as handlers that see only the RPC need it. */
export interface RequestScope {
  /** The client connection it came on: its HTTP/2 session, or its HTTP/1.1 socket. */
  connection: object;
  /** Cuts the request at once: resets its HTTP/2 stream, or closes its HTTP/1.1 connection. */
  cut(): void;
}

/**
 * Each request's RequestScope travels in its call's context values (the stock handler,
 * which serves every stream, sets it), so that limits per connection (streams open on
 * one connection) can be kept, and a stream whose consumer stopped reading can be cut,
 * by handlers that see only the RPC. A context value rather than async-local storage:
 * on Node 20 that enables promise hooks, which tax every promise the node makes.
 */
export const requestScopeKey = createContextKey<RequestScope | undefined>(undefined, { description: "the HTTP request a call came on" });

export function requestScopeOf(req: AnyRequest): RequestScope {
  return req instanceof http2.Http2ServerRequest
    ? { connection: req.stream.session ?? req.stream, cut: () => req.stream.close(http2.constants.NGHTTP2_CANCEL) }
    : { connection: req.socket, cut: () => req.socket.destroy() };
}

/** The request a call came on; undefined outside one (a handler called directly, in tests). */
export function requestScope(values: ContextValues): RequestScope | undefined {
  return values.get(requestScopeKey);
}
