import { AsyncLocalStorage } from "node:async_hooks";
import http2 from "node:http2";
import type { RequestHandler } from "./http-server.js";

/** The request being handled, as handlers that see only the RPC need it. */
export interface RequestScope {
  /** The client connection it came on: its HTTP/2 session, or its HTTP/1.1 socket. */
  connection: object;
  /** Cuts the request at once: resets its HTTP/2 stream, or closes its HTTP/1.1 connection. */
  cut(): void;
}

const scope = new AsyncLocalStorage<RequestScope>();

/**
 * Runs each request's handler within its RequestScope, so that limits per connection
 * (streams open on one connection) can be kept, and a stream whose consumer stopped
 * reading can be cut, by handlers that see only the RPC.
 */
export function withConnectionScope(handler: RequestHandler): RequestHandler {
  return (req, res) => {
    const entry: RequestScope =
      req instanceof http2.Http2ServerRequest
        ? { connection: req.stream.session ?? req.stream, cut: () => req.stream.close(http2.constants.NGHTTP2_CANCEL) }
        : { connection: req.socket, cut: () => req.socket.destroy() };
    scope.run(entry, () => handler(req, res));
  };
}

/** The request being handled; undefined outside one (a handler called directly, in tests). */
export function currentRequest(): RequestScope | undefined {
  return scope.getStore();
}
