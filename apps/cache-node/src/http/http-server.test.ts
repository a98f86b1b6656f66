import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createDualServer, endedWithoutBody, limitInflight, type DualServer, type RequestHandler, type ServerBounds } from "./http-server.js";

const TINY: ServerBounds = { firstBytesTimeoutMs: 200, headersTimeoutMs: 200, bodyTimeoutMs: 200, connectionsMax: 100, h2StreamsMax: 7, idleTimeoutMs: 5000 };
const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Bodies the echo handler saw end before the client had sent them whole. */
let cutShort: string[] = [];

/** Answers with the request body once it has all arrived. */
const echo: RequestHandler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    if (endedWithoutBody(req)) return void cutShort.push(Buffer.concat(chunks).toString("latin1"));
    res.setHeader("content-type", "text/plain");
    res.end(Buffer.concat(chunks));
  });
};

let servers: DualServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close(0)));
  servers = [];
  cutShort = [];
});

async function start(handler: RequestHandler, bounds: Partial<ServerBounds> = {}, onConnectionRefused?: () => void): Promise<number> {
  const server = createDualServer(handler, { ...TINY, ...bounds }, { onConnectionRefused });
  servers.push(server);
  return server.listen(0, "127.0.0.1");
}

interface Raw {
  socket: net.Socket;
  /** Everything received, and milliseconds from connecting until the server closed it. */
  closed: Promise<{ data: string; afterMs: number }>;
}

function raw(port: number, send?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = "";
    let connectedAt = 0;
    socket.on("data", (d) => (data += d.toString("latin1")));
    const closed = new Promise<{ data: string; afterMs: number }>((done) =>
      socket.once("close", () => done({ data, afterMs: performance.now() - connectedAt })),
    );
    socket.once("error", () => undefined);
    socket.once("connect", () => {
      connectedAt = performance.now();
      if (send !== undefined) socket.write(send);
      resolve({ socket, closed });
    });
    socket.once("error", reject);
  });
}

const openFor = (ms: number, socket: net.Socket) => new Promise<boolean>((r) => setTimeout(() => r(!socket.destroyed && socket.readyState === "open"), ms));

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string, end = true) {
  const stream = session.request({ ":method": "POST", ":path": "/x", ...headers });
  if (body !== undefined) stream.write(body);
  if (end) stream.end();
  return new Promise<{ headers: http2.IncomingHttpHeaders; trailers?: http2.IncomingHttpHeaders; body: string; rstCode: number | undefined }>(
    (resolve, reject) => {
      let response: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      let data = "";
      stream.on("response", (h) => (response = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (c: Buffer) => (data += c.toString("latin1")));
      stream.on("error", reject);
      stream.on("close", () => resolve({ headers: response, trailers, body: data, rstCode: stream.rstCode }));
    },
  );
}

function h2connect(port: number): Promise<{ session: http2.ClientHttp2Session; settings: Promise<http2.Settings> }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const settings = new Promise<http2.Settings>((r) => session.once("remoteSettings", r));
  return new Promise((resolve, reject) => {
    session.once("connect", () => resolve({ session, settings }));
    session.once("error", reject);
  });
}

describe("first bytes deadline", { timeout: 5000 }, () => {
  it("closes a connection that sends nothing", async () => {
    const port = await start(echo);
    const conn = await raw(port);
    expect(await openFor(100, conn.socket)).toBe(true);
    const { afterMs, data } = await conn.closed;
    expect(afterMs).toBeGreaterThanOrEqual(150);
    expect(afterMs).toBeLessThan(2000);
    expect(data).toBe("");
  });

  it("closes a connection that sends half the HTTP/2 preface and stalls", async () => {
    const port = await start(echo);
    const conn = await raw(port, H2_PREFACE.slice(0, 10));
    const { afterMs } = await conn.closed;
    expect(afterMs).toBeGreaterThanOrEqual(150);
    expect(afterMs).toBeLessThan(2000);
  });

  it("leaves connections that were routed in time alone", async () => {
    const port = await start(echo, { firstBytesTimeoutMs: 100, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    const { session } = await h2connect(port);
    const h1 = await raw(port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 300));
    expect(h1.socket.destroyed).toBe(false);
    const res = await h2request(session, {}, "still here");
    expect(res.body).toBe("still here");
    session.close();
    h1.socket.destroy();
  });
});

describe("request deadlines", { timeout: 5000 }, () => {
  it("answers 408 and closes an HTTP/1.1 connection whose headers stall", async () => {
    const port = await start(echo, { firstBytesTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    const conn = await raw(port, "POST /x HTTP/1.1\r\nHost: x\r\n");
    const { afterMs, data } = await conn.closed;
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeGreaterThanOrEqual(150);
    expect(afterMs).toBeLessThan(2000);
  });

  it("answers deadline_exceeded and closes an HTTP/1.1 request whose body stalls", async () => {
    const port = await start(echo, { firstBytesTimeoutMs: 5000, headersTimeoutMs: 5000 });
    const conn = await raw(port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
    const { afterMs, data } = await conn.closed;
    expect(data).toMatch(/^HTTP\/1\.1 504 /);
    expect(data.toLowerCase()).toContain("connection: close");
    expect(data).toContain('"code":"deadline_exceeded"');
    expect(data).toContain("--body-timeout-ms");
    expect(afterMs).toBeGreaterThanOrEqual(150);
    expect(afterMs).toBeLessThan(2000);
  });

  it("answers a stalled HTTP/2 body in its protocol, resets the stream and keeps the connection", async () => {
    const port = await start(echo, { firstBytesTimeoutMs: 5000, headersTimeoutMs: 5000 });
    const { session } = await h2connect(port);
    const started = performance.now();
    const grpc = await h2request(session, { "content-type": "application/grpc" }, "\0\0\0\0\x09abc", false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(grpc.headers[":status"]).toBe(200);
    expect(grpc.headers["grpc-status"]).toBe("4");
    expect(decodeURIComponent(String(grpc.headers["grpc-message"]))).toContain("--body-timeout-ms");
    expect(grpc.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    const connect = await h2request(session, { "content-type": "application/json" }, "{", false);
    expect(connect.headers[":status"]).toBe(504);
    expect(JSON.parse(connect.body)).toMatchObject({ code: "deadline_exceeded" });
    // The handler saw both bodies end short, not as whole requests.
    expect(cutShort).toEqual(["\0\0\0\0\x09abc", "{"]);
    // The session still serves requests that do send their body.
    expect((await h2request(session, {}, "ok")).body).toBe("ok");
    expect(cutShort).toHaveLength(2);
    session.close();
  });

  it("does not cut a body that arrives in time, even if the handler is slow", async () => {
    const slow: RequestHandler = (req, res) => {
      req.resume();
      req.on("end", () => setTimeout(() => res.end("late but fine"), 400));
    };
    const port = await start(slow, { firstBytesTimeoutMs: 5000, headersTimeoutMs: 5000 });
    const { session } = await h2connect(port);
    const res = await h2request(session, {}, "body");
    expect(res.headers[":status"]).toBe(200);
    expect(res.body).toBe("late but fine");
    session.close();
  });
});

describe("connection and stream bounds", { timeout: 5000 }, () => {
  it("reads the rest of an HTTP/1.1 body a handler left half-read, so the next request on the connection is answered", async () => {
    // A handler that reads part of the body, then answers (a body over its limit, say).
    const partial: RequestHandler = (req, res) => {
      if (req.url === "/next") {
        req.resume();
        return void req.once("end", () => res.end("next"));
      }
      req.once("data", () => {
        req.pause();
        res.end("refused");
      });
    };
    const port = await start(partial, { bodyTimeoutMs: 5000, headersTimeoutMs: 5000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (path: string, body?: Buffer) =>
      new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path, method: "POST", agent, timeout: 3000 }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer to ${path}`)));
        req.on("error", (err) => (path === "/big" ? undefined : reject(err)));
        req.end(body);
      });
    const big = await send("/big", Buffer.alloc(4 * 1024 * 1024, 1));
    expect(big).toMatchObject({ body: "refused" });
    expect(await send("/next")).toMatchObject({ status: 200, body: "next" });
    // A request whose body was read whole keeps its connection.
    const kept = await send("/next", Buffer.from("x"));
    expect(kept.connection).toBe("keep-alive");
    agent.destroy();
  });

  it("closes connections above connectionsMax at once and counts them", async () => {
    let refused = 0;
    const port = await start(echo, { connectionsMax: 2, firstBytesTimeoutMs: 5000 }, () => refused++);
    const a = await raw(port);
    const b = await raw(port);
    await new Promise((r) => setTimeout(r, 50));
    const c = await raw(port);
    const { afterMs } = await c.closed;
    // At accept, not at the first-bytes timeout (5 s), with room for a busy machine.
    expect(afterMs).toBeLessThan(1000);
    expect(refused).toBe(1);
    expect(a.socket.destroyed || b.socket.destroyed).toBe(false);
    // A slot frees when a connection closes.
    a.socket.destroy();
    await a.closed;
    await new Promise((r) => setTimeout(r, 50));
    const d = await raw(port);
    expect(await openFor(100, d.socket)).toBe(true);
    b.socket.destroy();
    d.socket.destroy();
  });

  it("announces h2StreamsMax as SETTINGS_MAX_CONCURRENT_STREAMS", async () => {
    const port = await start(echo);
    const { session, settings } = await h2connect(port);
    expect((await settings).maxConcurrentStreams).toBe(7);
    session.close();
  });
});

/** An HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
function h2Frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

async function until(condition: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (!condition() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return condition();
}

describe("idle connections", { timeout: 5000 }, () => {
  async function startServer(handler: RequestHandler, bounds: Partial<ServerBounds>): Promise<{ server: DualServer; port: number }> {
    const server = createDualServer(handler, { ...TINY, ...bounds });
    servers.push(server);
    return { server, port: await server.listen(0, "127.0.0.1") };
  }

  it("releases an HTTP/2 connection that failed with a connection error once its client has gone", async () => {
    const { server, port } = await startServer(echo, { idleTimeoutMs: 300 });
    // DATA on a stream that was never opened: a connection error; node answers GOAWAY and
    // stops reading, so it never sees the client's FIN.
    const frames = Buffer.concat([h2Frame(0x4, 0, 0, Buffer.alloc(0)), h2Frame(0x0, 0x1, 1, Buffer.from("{}"))]);
    const conn = await raw(port, H2_PREFACE + frames.toString("latin1"));
    await new Promise((r) => setTimeout(r, 100));
    conn.socket.end();
    const { afterMs } = await conn.closed;
    expect(afterMs).toBeLessThan(2000);
    expect(await until(() => server.connections() === 0, 500)).toBe(true);
  });

  it("sends GOAWAY to an idle HTTP/2 session and closes it", async () => {
    const { server, port } = await startServer(echo, { idleTimeoutMs: 200 });
    const { session } = await h2connect(port);
    const goaway = new Promise<number>((r) => session.once("goaway", r));
    expect((await h2request(session, {}, "hello")).body).toBe("hello");
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(await until(() => server.connections() === 0, 1500)).toBe(true);
  });

  it("ends an idle HTTP/1.1 keep-alive connection", async () => {
    const { port } = await startServer(echo, { idleTimeoutMs: 200, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    const conn = await raw(port, "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi");
    const { data, afterMs } = await conn.closed;
    expect(data).toContain("200 OK");
    expect(afterMs).toBeGreaterThan(150);
    expect(afterMs).toBeLessThan(2000);
  });
});

describe("in-flight bound", { timeout: 5000 }, () => {
  it("answers requests over the bound resource_exhausted in their protocol, and frees the slot when a response ends", async () => {
    const held: (() => void)[] = [];
    const hold: RequestHandler = (req, res) => {
      req.resume();
      held.push(() => res.end("done"));
    };
    let refused = 0;
    const limited = limitInflight(hold, 1, () => refused++);
    const port = await start(limited.handler, { firstBytesTimeoutMs: 5000, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    const { session } = await h2connect(port);
    const first = h2request(session, {}, "x");
    await expect.poll(() => held.length).toBe(1);
    expect(limited.inflight()).toBe(1);

    const connect = await fetch(`http://127.0.0.1:${port}/distcache.v1.CacheService/Get`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(connect.status).toBe(429);
    const error = (await connect.json()) as { code: string; message: string };
    expect(error.code).toBe("resource_exhausted");
    expect(error.message).toContain("--inflight-requests-max");

    const grpc = await h2request(session, { "content-type": "application/grpc", te: "trailers" }, "\0\0\0\0\0");
    expect(grpc.headers[":status"]).toBe(200);
    expect(grpc.headers["grpc-status"]).toBe("8");
    expect(decodeURIComponent(String(grpc.headers["grpc-message"]))).toContain("--inflight-requests-max");

    const grpcWeb = await h2request(session, { "content-type": "application/grpc-web+proto" }, "\0\0\0\0\0");
    expect(grpcWeb.headers["content-type"]).toBe("application/grpc-web+proto");
    expect(grpcWeb.body.charCodeAt(0)).toBe(0x80);
    expect(grpcWeb.body).toContain("grpc-status: 8");
    expect(refused).toBe(3);

    held.shift()!();
    expect((await first).body).toBe("done");
    expect(limited.inflight()).toBe(0);
    const again = h2request(session, {}, "y");
    await expect.poll(() => held.length).toBe(1);
    held.shift()!();
    expect((await again).body).toBe("done");
    expect(refused).toBe(3);
    session.close();
  });
});
