// How the fuzzer talks to nodes: the stock connect-node transports for well-formed
// requests in each encoding, and raw node:http, node:http2 and node:net for malformed
// ones. Every send resolves to an outcome; nothing throws.
//
// An outcome is { code, via, status?, message? }:
//   via "rpc"     the code came from the protocol (Connect error body, grpc-status, ...)
//   via "http"    the response carried no RPC code: `code` is what a Connect or gRPC
//                 client derives from the HTTP status, `status` the status itself
//   via "reset"   the connection or stream failed before a response (code "reset")
//   via "timeout" no response within the request timeout (code "timeout")
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import zlib from "node:zlib";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { CacheService, ClusterService } from "@distcache/proto";
import { codeFromHttpStatus, codeName } from "./codes.mjs";

export const ENCODINGS = ["connect-json", "connect-proto", "grpc", "grpc-web"];

const STREAMING = new Set(["watch", "watchTopology"]);

/**
 * Clients for every node, encoding and HTTP version the encoding runs over.
 * @param {{ url: string }[]} nodes
 */
export function createClients(nodes) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  return nodes.map((node) => {
    const make = (transport) => ({ cache: createClient(CacheService, transport), cluster: createClient(ClusterService, transport) });
    const h1 = { httpVersion: "1.1", nodeOptions: { agent } };
    // Node's 10 MB default would have the client reset its own concurrent 1 MiB uploads.
    const h2 = { httpVersion: "2", nodeOptions: { maxSessionMemory: 1024 } };
    return {
      "connect-json": [
        make(createConnectTransport({ baseUrl: node.url, useBinaryFormat: false, ...h1 })),
        make(createConnectTransport({ baseUrl: node.url, useBinaryFormat: false, ...h2 })),
      ],
      "connect-proto": [
        make(createConnectTransport({ baseUrl: node.url, useBinaryFormat: true, ...h1 })),
        make(createConnectTransport({ baseUrl: node.url, useBinaryFormat: true, ...h2 })),
      ],
      grpc: [make(createGrpcTransport({ baseUrl: node.url, ...h2 }))],
      "grpc-web": [
        make(createGrpcWebTransport({ baseUrl: node.url, useBinaryFormat: true, ...h1 })),
        make(createGrpcWebTransport({ baseUrl: node.url, useBinaryFormat: true, ...h2 })),
      ],
    };
  });
}

/**
 * Calls one method through a stock client.
 * @returns {Promise<{ code: string, via: string, message?: string, response?: unknown }>}
 */
export async function callRpc(client, service, method, request, { timeoutMs, hangMs }) {
  const signal = AbortSignal.timeout(STREAMING.has(method) ? Math.min(hangMs, 5000) : hangMs);
  const target = service === "cluster" ? client.cluster : client.cache;
  try {
    if (STREAMING.has(method)) {
      // A live stream (WatchTopology) answers with its first message and is then closed.
      for await (const message of target[method](request, { signal, timeoutMs })) if (message) break;
      return { code: "ok", via: "rpc" };
    }
    const response = await target[method](request, { signal, timeoutMs });
    return { code: "ok", via: "rpc", response };
  } catch (err) {
    const e = ConnectError.from(err);
    if (signal.aborted && e.code === Code.Canceled) return { code: "timeout", via: "timeout", message: `no answer within ${hangMs} ms` };
    return { code: codeName(e.code), via: "rpc", message: e.rawMessage };
  }
}

/**
 * Whether a streaming response (Connect, gRPC or gRPC-Web enveloped) already holds one
 * whole data message: a live server stream (WatchTopology) answered, and is cut there
 * instead of being waited on until it ends.
 */
function firstStreamMessage(headers, chunks) {
  const type = String(headers?.["content-type"] ?? "");
  if (!/^application\/(connect\+|grpc)/.test(type)) return false;
  const body = Buffer.concat(chunks);
  return body.length >= 5 && (body[0] & 0x82) === 0 && body.length >= 5 + body.readUInt32BE(1);
}

/**
 * One raw HTTP/1.1 request. The body goes out as given (chunks written one by one);
 * an answer that arrives before the body is sent still counts.
 * @returns {Promise<{ status: number, headers: Record<string, unknown>, body: Buffer } | { error: string }>}
 */
export function rawHttp1({ host, port, method = "POST", path, headers = {}, body, agent, timeoutMs }) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    let req;
    try {
      req = http.request({ host, port, method, path, headers, agent: agent ?? false, setHost: !("host" in headers) });
    } catch (err) {
      return resolve({ error: `client refused to send: ${err.code ?? err.message}` });
    }
    // What this keep-alive connection carried before, for a report on a request that hangs.
    let history = [];
    req.on("socket", (socket) => {
      history = socket.fuzzHistory ??= [];
      const bodyBytes = Array.isArray(body) ? body.reduce((a, b) => a + b.length, 0) : (body?.length ?? 0);
      history.push(`${method} ${path.slice(0, 60)} ${headers["content-type"] ?? "-"} ${bodyBytes}B`);
    });
    const timer = setTimeout(() => {
      finish({ error: "timeout", history: history.slice(-4) });
      req.destroy();
    }, timeoutMs);
    req.on("response", (res) => {
      if (history.length) history[history.length - 1] += ` → ${res.statusCode}`;
      const chunks = [];
      res.on("data", (c) => {
        chunks.push(c);
        if (res.statusCode !== 200 || !firstStreamMessage(res.headers, chunks)) return;
        finish({ status: 200, headers: res.headers, body: Buffer.concat(chunks), streaming: true });
        req.destroy();
      });
      res.on("end", () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("aborted", () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", (err) => finish({ error: err.code ?? err.message }));
    const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
    for (const p of parts) req.write(p);
    req.end();
  });
}

/**
 * One raw HTTP/2 request on a session of its own (a malformed request may break the
 * session, and must not take other requests with it).
 * @returns {Promise<{ status: number, headers: Record<string, unknown>, trailers: Record<string, unknown>, body: Buffer } | { error: string }>}
 */
export function rawHttp2({ host, port, method = "POST", path, headers = {}, body, timeoutMs }) {
  return new Promise((resolve) => {
    let done = false;
    const session = http2.connect(`http://${host}:${port}`);
    // A session that ended normally is closed gracefully; only a stuck one is destroyed.
    const finish = (v, abrupt = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (abrupt) session.destroy();
      else {
        session.close();
        setTimeout(() => session.destroy(), 5000).unref();
      }
      resolve(v);
    };
    const timer = setTimeout(() => finish({ error: "timeout" }, true), timeoutMs);
    session.on("error", (err) => finish({ error: err.code ?? err.message }, true));
    let stream;
    try {
      stream = session.request({ ":method": method, ":path": path, ...headers }, { endStream: false });
    } catch (err) {
      return finish({ error: `client refused to send: ${err.code ?? err.message}` });
    }
    let status = 0;
    let resHeaders = {};
    let trailers = {};
    const chunks = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      resHeaders = h;
    });
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c) => {
      chunks.push(c);
      if (status !== 200 || !firstStreamMessage(resHeaders, chunks)) return;
      finish({ status, headers: resHeaders, trailers, body: Buffer.concat(chunks), streaming: true }, true);
    });
    stream.on("end", () =>
      finish(status !== 0 ? { status, headers: resHeaders, trailers, body: Buffer.concat(chunks) } : { error: "stream ended without a response" }),
    );
    stream.on("close", () => {
      if (status !== 0) finish({ status, headers: resHeaders, trailers, body: Buffer.concat(chunks) });
      else finish({ error: `stream closed (rst ${stream.rstCode})` });
    });
    stream.on("error", (err) => {
      if (status === 0) finish({ error: err.code ?? err.message });
    });
    const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
    for (const p of parts) stream.write(p);
    stream.end();
  });
}

/**
 * Writes bytes on a fresh TCP connection and reads what comes back until the server
 * closes or holdMs passes.
 * @returns {Promise<{ received: Buffer, closedByServer: boolean, error?: string }>}
 */
export function rawTcp({ host, port, chunks, holdMs, readMax = 64 * 1024 }) {
  return new Promise((resolve) => {
    const received = [];
    let bytes = 0;
    let done = false;
    const socket = net.connect({ host, port });
    const finish = (closedByServer, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(received), closedByServer, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(false), holdMs);
    socket.on("connect", () => {
      for (const c of chunks) socket.write(c);
    });
    socket.on("data", (d) => {
      if (bytes < readMax) received.push(d);
      bytes += d.length;
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", (err) => finish(true, err.code ?? err.message));
  });
}

function failure(res) {
  if (res.error === "timeout") {
    const reused = res.history?.length > 1;
    return {
      code: "timeout",
      via: "timeout",
      message: reused ? "no answer on a reused HTTP/1.1 connection" : "no answer",
      detail: reused ? `the connection carried before: ${res.history.slice(0, -1).join(" | ")}` : undefined,
    };
  }
  return { code: "reset", via: "reset", message: res.error };
}

function header(headers, name) {
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
}

function jsonCode(body) {
  try {
    const parsed = JSON.parse(body.toString("utf8"));
    if (parsed && typeof parsed.code === "string") return { code: parsed.code, message: String(parsed.message ?? "") };
  } catch {
    // not a Connect error body
  }
  return undefined;
}

/** Splits a body into enveloped messages (flags, payload); stops at a truncated one. */
export function envelopes(body) {
  const out = [];
  let offset = 0;
  while (body.length - offset >= 5) {
    const flags = body[offset];
    const length = body.readUInt32BE(offset + 1);
    if (body.length - offset - 5 < length) break;
    out.push({ flags, data: body.subarray(offset + 5, offset + 5 + length) });
    offset += 5 + length;
  }
  return out;
}

/**
 * Statuses the HTTP layer answers before any RPC handling (a URL or headers too large,
 * a body or media type no protocol takes): a refusal, not an RPC code.
 */
export const HTTP_LAYER_STATUSES = new Set([413, 414, 415, 431]);

function httpOnly(res) {
  if (HTTP_LAYER_STATUSES.has(res.status)) return { code: `http_${res.status}`, via: "http-layer", status: res.status };
  return { code: codeFromHttpStatus(res.status), via: "http", status: res.status, message: res.body?.toString("utf8", 0, 200) };
}

/** A Connect unary answer. */
export function classifyConnectUnary(res) {
  if ("error" in res) return failure(res);
  if (res.status === 200) return { code: "ok", via: "rpc", status: 200 };
  const parsed = jsonCode(res.body);
  if (parsed) return { code: parsed.code, via: "rpc", status: res.status, message: parsed.message };
  return httpOnly(res);
}

/** A Connect streaming answer (Watch, WatchTopology): the end-stream message holds the code. */
export function classifyConnectStream(res) {
  if ("error" in res) return failure(res);
  if (res.streaming) return { code: "ok", via: "rpc", status: 200 };
  if (res.status !== 200) {
    const parsed = jsonCode(res.body);
    if (parsed) return { code: parsed.code, via: "rpc", status: res.status, message: parsed.message };
    return httpOnly(res);
  }
  const end = envelopes(res.body).find((e) => (e.flags & 0x02) !== 0);
  if (!end) return { code: "internal", via: "rpc", status: 200, message: "stream without an end-stream message" };
  try {
    const parsed = JSON.parse(end.data.toString("utf8"));
    if (parsed.error?.code) return { code: String(parsed.error.code), via: "rpc", status: 200, message: String(parsed.error.message ?? "") };
    return { code: "ok", via: "rpc", status: 200 };
  } catch {
    return { code: "internal", via: "rpc", status: 200, message: "end-stream message is not JSON" };
  }
}

/** A gRPC answer: grpc-status in the headers (trailers-only) or the trailers. */
export function classifyGrpc(res) {
  if ("error" in res) return failure(res);
  if (res.streaming) return { code: "ok", via: "rpc", status: 200 };
  const status = header(res.headers, "grpc-status") ?? header(res.trailers, "grpc-status");
  const message = header(res.headers, "grpc-message") ?? header(res.trailers, "grpc-message");
  if (status !== undefined) return { code: codeName(Number(status)), via: "rpc", status: res.status, message: decodeGrpcMessage(message) };
  if (res.status === 200) return { code: "internal", via: "rpc", status: 200, message: "no grpc-status" };
  return httpOnly(res);
}

/** A gRPC-Web answer: grpc-status in the headers, or in the trailer frame of the body. */
export function classifyGrpcWeb(res) {
  if ("error" in res) return failure(res);
  if (res.streaming) return { code: "ok", via: "rpc", status: 200 };
  const inHeaders = header(res.headers, "grpc-status");
  if (inHeaders !== undefined)
    return { code: codeName(Number(inHeaders)), via: "rpc", status: res.status, message: decodeGrpcMessage(header(res.headers, "grpc-message")) };
  if (res.status !== 200) return httpOnly(res);
  const trailer = envelopes(res.body).find((e) => (e.flags & 0x80) !== 0);
  if (!trailer)
    return {
      code: "internal",
      via: "rpc",
      status: 200,
      message: `no trailer frame in ${res.body.length} bytes of body: ${JSON.stringify(res.body.toString("latin1", 0, 120))}`,
    };
  let data = trailer.data;
  if ((trailer.flags & 0x01) !== 0) {
    try {
      const encoding = header(res.headers, "grpc-encoding");
      data = encoding === "br" ? zlib.brotliDecompressSync(data) : zlib.gunzipSync(data);
    } catch {
      return { code: "internal", via: "rpc", status: 200, message: "compressed trailer frame that does not decompress" };
    }
  }
  const fields = Object.fromEntries(
    data
      .toString("utf8")
      .split("\r\n")
      .filter(Boolean)
      .map((line) => {
        const i = line.indexOf(":");
        return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
      }),
  );
  if (fields["grpc-status"] === undefined) return { code: "internal", via: "rpc", status: 200, message: "trailer frame without grpc-status" };
  return { code: codeName(Number(fields["grpc-status"])), via: "rpc", status: 200, message: decodeGrpcMessage(fields["grpc-message"]) };
}

function decodeGrpcMessage(m) {
  if (m === undefined) return undefined;
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

/** An answer to bytes that are not an RPC of any protocol: only the HTTP status counts. */
export function classifyTcp(result) {
  const text = result.received.toString("latin1", 0, 64);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (m) return { code: `http_${m[1]}`, via: "http", status: Number(m[1]) };
  if (result.received.length >= 9) {
    // An HTTP/2 server answers garbage after the preface with frames (SETTINGS, GOAWAY).
    const type = result.received[3];
    if (type === 0x04 || type === 0x07) return { code: "h2_goaway_or_settings", via: "http" };
  }
  if (result.closedByServer) return { code: "closed", via: "reset" };
  return { code: "held_open", via: "reset" };
}

/** Wraps a message in a gRPC / Connect-stream envelope. */
export function envelope(data, flags = 0) {
  const out = Buffer.alloc(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}
