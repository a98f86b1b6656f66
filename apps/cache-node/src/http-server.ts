import { cors } from "@connectrpc/connect";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;
export type RequestHandler = (req: AnyRequest, res: AnyResponse) => void;

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
}

/**
 * One port that speaks HTTP/1.1 and cleartext HTTP/2 (h2c with prior knowledge), as
 * gRPC needs h2 and curl or browsers often use HTTP/1.1. Node ignores allowHTTP1
 * without TLS, so each connection's first bytes are read: the HTTP/2 preface routes
 * it to the h2 server, anything else to the HTTP/1.1 server.
 */
export function createDualServer(handler: RequestHandler): DualServer {
  // In-flight requests per HTTP/1.1 connection, so shutdown can close idle keep-alive
  // connections at once and busy ones as soon as their response ends.
  const inflight = new Map<net.Socket, number>();
  let draining = false;
  const closeIfIdle = (socket: net.Socket): void => {
    if (draining && (inflight.get(socket) ?? 0) === 0) socket.destroy();
  };
  const h1 = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const socket = req.socket;
    inflight.set(socket, (inflight.get(socket) ?? 0) + 1);
    if (draining) res.shouldKeepAlive = false;
    res.once("close", () => {
      inflight.set(socket, (inflight.get(socket) ?? 1) - 1);
      closeIfIdle(socket);
    });
    handler(req, res);
  });
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      inflight.delete(socket);
    });
    socket.on("error", () => socket.destroy());
    routeBySniffing(socket, h1, h2);
  });
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
      draining = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const s of sessions) s.close();
      for (const socket of inflight.keys()) closeIfIdle(socket);
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function routeBySniffing(socket: net.Socket, h1: http.Server, h2: http2.Http2Server): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const n = Math.min(buffered.length, H2_PREFACE.length);
    const isPrefix = buffered.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    // Wait for more bytes only while the data could still be the start of the preface.
    if (isPrefix && n < H2_PREFACE.length) return;
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
