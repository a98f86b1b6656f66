import { Code, ConnectError, cors } from "@connectrpc/connect";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { writeRpcError } from "./rpc-error-response.js";
import type { AnyRequest, AnyResponse } from "./node-http-types.js";

export type RequestHandler = (req: AnyRequest, res: AnyResponse) => void;

/** What one HTTP/2 connection may buffer, in megabytes (Node's unit for maxSessionMemory). */
const H2_SESSION_MEMORY_MB = 128;

/** The first bytes every HTTP/2 client sends on a cleartext connection (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface Probes {
  live(): boolean;
  ready(): boolean;
  metrics(): Promise<{ contentType: string; body: string }>;
}

const CORS_HEADERS = {
  "access-control-allow-methods": cors.allowedMethods.join(", "),
  "access-control-allow-headers": cors.allowedHeaders.join(", "),
  "access-control-expose-headers": cors.exposedHeaders.join(", "),
  "access-control-max-age": "7200",
};

/**
 * Wraps the Connect handler with CORS (so browsers can call the API from any origin),
 * health probes and the metrics endpoint.
 */
export function withEdges(connect: RequestHandler, probes: Probes): RequestHandler {
  return (req, res) => {
    const origin = req.headers["origin"];
    if (typeof origin === "string") {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "origin");
      for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
      if (req.method === "OPTIONS") {
        res.statusCode = 204;
        res.end();
        return;
      }
    }
    const path = (req.url ?? "").split("?", 1)[0];
    if (path === "/healthz") return text(res, probes.live() ? 200 : 503, probes.live() ? "ok\n" : "not live\n");
    if (path === "/readyz") return text(res, probes.ready() ? 200 : 503, probes.ready() ? "ready\n" : "not ready\n");
    if (path === "/metrics") {
      probes.metrics().then(
        (m) => {
          res.setHeader("content-type", m.contentType);
          res.end(m.body);
        },
        (err: unknown) => text(res, 500, `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    connect(req, res);
  };
}

function text(res: AnyResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.end(body);
}

export interface DualServer {
  listen(port: number, host: string): Promise<number>;
  close(graceMs: number): Promise<void>;
  /** Open client connections, whichever protocol they speak (or before it is known). */
  connections(): number;
}

/** Bounds of the client port; each one protects the node from slow or too many clients. */
export interface ServerBounds {
  /** A new connection must send enough bytes to tell HTTP/1.1 from HTTP/2 within this time, or it is closed. */
  firstBytesTimeoutMs: number;
  /** HTTP/1.1: a request's headers must arrive within this time (node answers 408 and closes). */
  headersTimeoutMs: number;
  /** A request's body must arrive within this time after its headers, or it is answered deadline_exceeded and cut. */
  bodyTimeoutMs: number;
  /** Open connections above this are closed as soon as they are accepted. */
  connectionsMax: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: concurrent requests on one connection. */
  h2StreamsMax: number;
  /**
   * A connection with no request in flight that carries nothing for this long is closed:
   * HTTP/1.1 keep-alive ends, an HTTP/2 session is sent GOAWAY and closed.
   */
  idleTimeoutMs: number;
}

export interface DualServerEvents {
  /** A connection was closed at once because connectionsMax were open. */
  onConnectionRefused?: () => void;
}

/**
 * One port that speaks HTTP/1.1 and cleartext HTTP/2 (h2c with prior knowledge), as
 * gRPC needs h2 and curl or browsers often use HTTP/1.1. Node ignores allowHTTP1
 * without TLS, so each connection's first bytes are read: the HTTP/2 preface routes
 * it to the h2 server, anything else to the HTTP/1.1 server.
 */
export function createDualServer(handler: RequestHandler, bounds: ServerBounds, events: DualServerEvents = {}): DualServer {
  const connections = new Connections();
  const onRequest = withBodyDeadline(handler, bounds.bodyTimeoutMs);
  const h1 = createH1Server(onRequest, bounds, connections);
  const h2 = createH2Server(onRequest, bounds, connections);
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    connections.opened(socket);
    socket.on("error", () => socket.destroy());
    routeBySniffing(socket, h1, h2, bounds.firstBytesTimeoutMs);
  });
  // Node closes connections above maxConnections as soon as it accepts them.
  tcp.maxConnections = bounds.connectionsMax;
  tcp.on("drop", () => events.onConnectionRefused?.());
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          resolve((tcp.address() as net.AddressInfo).port);
        });
      }),
    close: async (graceMs) => {
      // Stop accepting, let in-flight requests finish, close connections as they go
      // idle, and cut whatever is left after the grace period.
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      // Stops node's timeout checks of the HTTP/1.1 server (it was never listening).
      h1.close(() => undefined);
      connections.drain();
      const timer = setTimeout(() => connections.destroyAll(), graceMs);
      await closed;
      clearTimeout(timer);
    },
    connections: () => connections.count,
  };
}

/**
 * The open connections of one server, and the requests in flight on each HTTP/1.1 one,
 * so shutdown can close idle keep-alive connections at once and busy ones as soon as
 * their response ends.
 */
class Connections {
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.Http2Session>();
  private readonly inflight = new Map<net.Socket, number>();
  draining = false;

  get count(): number {
    return this.sockets.size;
  }

  opened(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => {
      this.sockets.delete(socket);
      this.inflight.delete(socket);
    });
  }

  sessionOpened(session: http2.Http2Session): void {
    this.sessions.add(session);
    session.on("close", () => this.sessions.delete(session));
  }

  requestStarted(socket: net.Socket): void {
    this.inflight.set(socket, (this.inflight.get(socket) ?? 0) + 1);
  }

  requestEnded(socket: net.Socket): void {
    this.inflight.set(socket, (this.inflight.get(socket) ?? 1) - 1);
    this.closeIfIdle(socket);
  }

  /** From now on, each connection closes once it has no request in flight. */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
    for (const socket of this.inflight.keys()) this.closeIfIdle(socket);
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private closeIfIdle(socket: net.Socket): void {
    if (this.draining && (this.inflight.get(socket) ?? 0) === 0) socket.destroy();
  }
}

/** The HTTP/1.1 server: it never listens; the port hands it the connections that are not HTTP/2. */
function createH1Server(onRequest: RequestHandler, bounds: ServerBounds, connections: Connections): http.Server {
  const h1 = http.createServer(
    {
      keepAliveTimeout: bounds.idleTimeoutMs,
      headersTimeout: bounds.headersTimeoutMs,
      // The whole request; the body deadline answers first, this is the backstop for
      // bodies nobody reads (a probe answered before its body arrived).
      requestTimeout: bounds.headersTimeoutMs + bounds.bodyTimeoutMs,
      // How often node checks those two: often enough for the shortest of them.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(Math.min(bounds.headersTimeoutMs, bounds.bodyTimeoutMs) / 10))),
    },
    (req, res) => {
      const socket = req.socket;
      connections.requestStarted(socket);
      if (connections.draining) res.shouldKeepAlive = false;
      drainAfterResponse(req, res);
      res.once("close", () => connections.requestEnded(socket));
      onRequest(req, res);
    },
  );
  // Node tracks connections for headersTimeout and requestTimeout only from a server's
  // 'listening' event on.
  h1.emit("listening");
  return h1;
}

/** The cleartext HTTP/2 server, for the connections that open with the HTTP/2 preface. */
function createH2Server(onRequest: RequestHandler, bounds: ServerBounds, connections: Connections): http2.Http2Server {
  const h2 = http2.createServer(
    // Node refuses new streams (ENHANCE_YOUR_CALM) once a session buffers more than this;
    // its 10 MB default is passed by a few concurrent 1 MiB writes on one connection.
    { settings: { maxConcurrentStreams: bounds.h2StreamsMax }, maxSessionMemory: H2_SESSION_MEMORY_MB },
    onRequest as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  h2.on("session", (session) => {
    connections.sessionOpened(session);
    closeWhenIdle(session, bounds.idleTimeoutMs);
  });
  return h2;
}

/** How long a session closed for idleness has to end by itself before its socket is cut. */
const IDLE_CLOSE_GRACE_MS = 1000;

/**
 * Closes an HTTP/2 session once it has no stream open and nothing crossed it for idleMs.
 * This is also what ends a session that failed with a connection error: node sends GOAWAY
 * and stops reading its socket, so it never sees the client close the connection, and the
 * session would otherwise hold its socket (in CLOSE-WAIT) and its memory for good.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let streams = 0;
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    streams++;
    stream.once("close", () => streams--);
  });
  session.setTimeout(idleMs, () => {
    if (streams > 0 || session.destroyed) return;
    session.close();
    setTimeout(() => session.destroy(), IDLE_CLOSE_GRACE_MS).unref();
  });
}

/**
 * An HTTP/1.1 request whose handler answered after reading only part of its body (a
 * body over the size limit, refused after its first bytes) has the rest read and
 * discarded once the response is sent. Node does this itself for a body nobody read,
 * but not for one a handler began: its unread bytes would sit in front of the next
 * request on the connection, which would never be answered. A body that never ends is
 * cut by node's requestTimeout, as one nobody read is.
 */
function drainAfterResponse(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.once("finish", () => {
    if (!req.complete && !req.destroyed) req.resume();
  });
}

/**
 * Gives every request bodyTimeoutMs from its headers to deliver its body. A request still
 * short of its body then is answered deadline_exceeded (in its RPC protocol) if no
 * response has begun, and cut: an HTTP/1.1 connection is closed after the answer (or at
 * once if a response was under way), an HTTP/2 stream is reset. Handlers still reading
 * that body see it end early and give up.
 */
function withBodyDeadline(handler: RequestHandler, bodyTimeoutMs: number): RequestHandler {
  return (req, res) => {
    const timer = setTimeout(() => {
      if (bodyComplete(req)) return;
      const answer = !res.headersSent;
      if (answer) {
        if (res instanceof http.ServerResponse) res.shouldKeepAlive = false;
        writeRpcError(req, res, new ConnectError(`the request body did not arrive within ${bodyTimeoutMs} ms (--body-timeout-ms)`, Code.DeadlineExceeded));
      }
      if (req instanceof http2.Http2ServerRequest) {
        // NO_ERROR after a complete response asks the client to stop sending (RFC 9113 §8.1);
        // node sends it once the response is flushed.
        req.stream.close(answer || res.writableEnded ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL);
      } else if (!answer) {
        req.socket.destroy();
      }
    }, bodyTimeoutMs);
    // HTTP/1.1 responses close once sent; node's requestTimeout bounds a body still
    // arriving after that. HTTP/2 responses close with their stream.
    res.once("close", () => clearTimeout(timer));
    handler(req, res);
  };
}

/**
 * To be asked when a request body has ended: whether it ended because its HTTP/2 stream
 * closed (the client reset it, or the body deadline cut it) rather than with the client's
 * END_STREAM. Node's HTTP/2 compatibility layer ends the body either way, so a handler
 * that reads a body must check, or it would act on a truncated request. An HTTP/1.1
 * body that stops short errors instead of ending.
 */
export function endedWithoutBody(req: AnyRequest): boolean {
  return req instanceof http2.Http2ServerRequest && req.stream.closed;
}

/** Whether the client has sent its whole request body (read by the handler or not). */
function bodyComplete(req: AnyRequest): boolean {
  if (req instanceof http2.Http2ServerRequest) return req.stream.destroyed || req.stream.state.remoteClose === 1;
  return req.complete;
}

/**
 * Bounds the requests a handler serves at once: one over the bound is answered
 * resource_exhausted in its RPC protocol without being read. A request counts from its
 * headers until its response is sent (or its connection is gone).
 */
export function limitInflight(handler: RequestHandler, max: number, onRefused?: () => void): { handler: RequestHandler; inflight: () => number } {
  let inflight = 0;
  const message = `the node is serving ${max} requests, its limit (--inflight-requests-max); retry later`;
  return {
    inflight: () => inflight,
    handler: (req, res) => {
      if (inflight >= max) {
        onRefused?.();
        writeRpcError(req, res, new ConnectError(message, Code.ResourceExhausted));
        return;
      }
      inflight++;
      let counted = true;
      const done = (): void => {
        if (counted) inflight--;
        counted = false;
      };
      res.once("finish", done);
      res.once("close", done);
      handler(req, res);
    },
  };
}

/**
 * Reads a connection's first bytes and hands it to the HTTP/1.1 or the h2 server. A
 * connection that has not sent enough to decide within timeoutMs is closed.
 */
function routeBySniffing(socket: net.Socket, h1: http.Server, h2: http2.Http2Server, timeoutMs: number): void {
  let buffered = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.once("close", () => clearTimeout(timer));
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const n = Math.min(buffered.length, H2_PREFACE.length);
    const isPrefix = buffered.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    // Wait for more bytes only while the data could still be the start of the preface.
    if (isPrefix && n < H2_PREFACE.length) return;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.pause();
    socket.unshift(buffered);
    if (isPrefix) {
      // The h2 session drains what is already buffered, then reads the socket natively.
      h2.emit("connection", socket);
    } else {
      h1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
}
