import type http from "node:http";
import type http2 from "node:http2";

/** A request on the client port, over HTTP/1.1 or HTTP/2 (one server speaks both). */
export type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
/** Its response. */
export type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;
