// The fuzzer's request families. generate(ctx, index) draws request `index` from its
// own generator, so a run is the same set of requests whatever the concurrency, and a
// request replays on its own. Each descriptor says what it sends (family, method,
// encoding), whether it is shaped like an RPC of its protocol (then even an answer
// without an RPC code is judged by the code a client would derive), and how to run it.
import http2 from "node:http2";
import net from "node:net";
import { Prng } from "./prng.mjs";
import { GET_METHODS, INVALID_UTF8, REQUESTS, ValueMaker, brokenBinary, toBinary, toInit, toJson } from "./model.mjs";
import {
  ENCODINGS,
  classifyConnectStream,
  classifyConnectUnary,
  classifyGrpc,
  classifyGrpcWeb,
  classifyTcp,
  envelope,
  rawHttp1,
  rawHttp2,
  rawTcp,
} from "./senders.mjs";
import {
  ANSWER_PREFIX_BYTES,
  PEER_PROTOCOL_VERSION,
  VERSIONED,
  dial,
  frame,
  handshakeAnswer,
  otherVersionPreamble,
  peerBatch,
  raftMessage,
  withOtherNonce,
} from "./peer.mjs";
import { ProtoWriter, WIRE } from "./proto-writer.mjs";
import { guardConfigureStore } from "./store-guard.mjs";

const METHOD_WEIGHTS = [
  [14, "Get"],
  [16, "Set"],
  [6, "Delete"],
  [8, "MGet"],
  [8, "MSet"],
  [5, "MDelete"],
  [8, "Incr"],
  [6, "Batch"],
  [2, "Watch"],
  [3, "Stats"],
  [3, "GetTopology"],
  [1, "WatchTopology"],
  [1, "AddNode"],
  [1, "RemoveNode"],
  [0.6, "TransferLeader"],
  [0.5, "ConfigureStore"],
];

/** Families and their weights (per hundred requests, roughly). */
const FAMILIES = [
  [9, "ack-set"],
  [8, "valid"],
  [22, "typed-hostile"],
  [12, "json-raw"],
  [10, "binary-raw"],
  [5, "truncated"],
  [3, "content-type"],
  [6, "grpc-envelope"],
  [2, "connect-get"],
  [3, "protocol-headers"],
  [1.5, "oversized"],
  [2, "http-garbage"],
  [0.4, "stall"],
  [1.5, "peer-pre"],
  [2.5, "peer-post"],
];

/**
 * @typedef {{ id: string, host: string, port: number, url: string, peerHost: string, peerPort: number }} FuzzNode
 * @typedef {{
 *   seed: string, nodes: FuzzNode[], memberIds: string[], shardCount: number, pool: ReturnType<typeof import("./model.mjs").makePools>,
 *   secret: string | undefined, incarnations?: Record<string, string>, hangMs: number, stallMs: number, bigBuffers: { json: Buffer, garbage: Buffer }
 * }} Context
 * @typedef {{ code: string, via: string, status?: number, message?: string, response?: any }} Outcome
 * @typedef {{
 *   family: string, method: string, encoding: string, rpcShaped: boolean, summary?: string, nodeId?: string, deadline?: boolean, stall?: boolean,
 *   ack?: { key: string, text?: string, value?: Uint8Array }, check?: (o: Outcome) => string | undefined, run: (env: any) => Promise<Outcome>
 * }} Request
 */

/**
 * The first draws of request `index`: the node it goes to (before skipping exited ones)
 * and its family. generate and familyOf share them, so --families picks the requests
 * generate would make of those families.
 */
function drawHead(ctx, index, namespace) {
  const rng = Prng.derive(ctx.seed, namespace, index);
  const nodeIndex = rng.int(ctx.nodes.length);
  const family = namespace === "warm" ? (index % 2 === 0 ? "ack-set" : "valid") : rng.weighted(FAMILIES);
  return { rng, nodeIndex, family };
}

/** The family of request `index` of a fuzz run (for --families). */
export function familyOf(ctx, index) {
  return drawHead(ctx, index, "run").family;
}

/** @returns {Request} */
export function generate(ctx, index, namespace = "run") {
  const { rng, family, nodeIndex: drawn } = drawHead(ctx, index, namespace);
  // A node that exited gets nothing more: its requests go to the next live node.
  let nodeIndex = drawn;
  for (let i = 0; i < ctx.nodes.length && ctx.nodes[nodeIndex].alive === false; i++) nodeIndex = (nodeIndex + 1) % ctx.nodes.length;
  const node = ctx.nodes[nodeIndex];
  const c = { ...ctx, index, namespace };
  const desc = build(family, rng, c, node, nodeIndex);
  desc.nodeId = node.id;
  return desc;
}

function build(family, rng, c, node, nodeIndex) {
  switch (family) {
    case "ack-set":
      return ackSet(rng, c, nodeIndex);
    case "valid":
      return typed(rng, c, nodeIndex, 0, "valid");
    case "typed-hostile":
      return typed(rng, c, nodeIndex, rng.pick([0.1, 0.3, 0.6, 1]), "typed-hostile");
    case "json-raw":
      return structuredRaw(rng, c, node, "json");
    case "binary-raw":
      return structuredRaw(rng, c, node, "binary");
    case "truncated":
      return truncated(rng, c, node);
    case "content-type":
      return contentType(rng, c, node);
    case "grpc-envelope":
      return grpcEnvelope(rng, c, node);
    case "connect-get":
      return connectGet(rng, c, node);
    case "protocol-headers":
      return protocolHeaders(rng, c, node);
    case "oversized":
      return oversized(rng, c, node);
    case "http-garbage":
      return httpGarbage(rng, c, node);
    case "stall":
      return stall(rng, c, node);
    case "peer-pre":
      return peerPre(rng, c, node);
    case "peer-post":
      return peerPost(rng, c, node);
    default:
      throw new Error(`unknown family ${family}`);
  }
}

// ---------------------------------------------------------------------------------------
// Well-formed requests through the stock clients

/** A valid Set of a key of its own with a known value: checked with a STRONG read at the end. */
function ackSet(rng, ctx, nodeIndex) {
  const encoding = rng.pick(ENCODINGS);
  const key = `ack/${ctx.seed}/${ctx.namespace}/${ctx.index}`;
  const asText = rng.bool(0.5);
  const text = asText ? rng.string(rng.range(0, 80), "abcdefghijklmnopqrstuvwxyz0123456789 -é漢🙂") : undefined;
  const value = asText ? undefined : rng.bytes(rng.range(0, 120));
  const request = { key, payload: asText ? { case: "text", value: text } : { case: "value", value } };
  return {
    family: "ack-set",
    method: "Set",
    encoding,
    rpcShaped: true,
    ack: { key, text, value },
    check: (o) => (o.code === "ok" && !(o.response?.version > 0n) ? `Set answered ok without a version` : undefined),
    run: (env) => env.call(encoding, nodeIndex, rng.int(4), "cache", "set", request),
  };
}

/** A request through a stock client, with each field hostile with probability `hostility`. */
function typed(rng, ctx, nodeIndex, hostility, family) {
  let method = rng.weighted(METHOD_WEIGHTS);
  // Leadership moves disturb every shard's writes for a moment: keep real transfers rare.
  if (method === "TransferLeader" && hostility === 0 && !rng.bool(0.3)) method = "GetTopology";
  const spec = REQUESTS[method];
  const maker = new ValueMaker(rng, ctx, { mode: "typed", hostility });
  const fields = maker.fixBig(maker.message(spec.fields));
  const request = toInit(fields);
  const encoding = rng.pick(ENCODINGS);
  // Now and then a deadline the server must honour (the client sends it as a header).
  const timeoutMs = rng.bool(0.05) ? rng.pick([1, 5, 50, 1000]) : undefined;
  return {
    family,
    method,
    encoding,
    rpcShaped: true,
    deadline: timeoutMs !== undefined,
    summary: summarize(fields, timeoutMs === undefined ? "" : `deadline ${timeoutMs} ms`),
    check: (o) => responseShape(method, request, o),
    run: (env) => env.call(encoding, nodeIndex, rng.int(4), spec.service, spec.local, request, timeoutMs),
  };
}

/** A short account of a request's fields for reports: sizes, not contents. */
function summarize(fields, extra) {
  const parts = fields.map(([f, v]) => `${f.name}=${describeValue(v)}`);
  if (extra) parts.push(extra);
  return parts.join(" ");
}

function describeValue(v) {
  switch (v.k) {
    case "str":
      return v.v.length > 24 ? `<string of ${v.v.length}>` : JSON.stringify(v.v);
    case "int":
    case "beyond":
      return `${v.v}${v.asString ? " (as string)" : ""}`;
    case "enum":
    case "bool":
      return String(v.v);
    case "bytes":
      return `<${v.v.length} bytes>`;
    case "utf8":
      return `<not UTF-8: ${JSON.stringify(v.prefix.slice(0, 12))}+[${v.bytes.join(",")}]>`;
    case "rawjson":
      return v.token.length > 24 ? `<token of ${v.token.length}>` : v.token;
    case "list":
      return `[${v.items.length} items]`;
    case "msg":
      return `{${v.fields.map(([f, x]) => `${f.name}=${describeValue(x)}`).join(" ")}}`;
    default:
      return v.k;
  }
}

/** Checks an ok answer against its request: one result per key, one version per item. */
function responseShape(method, request, o) {
  if (o.code !== "ok" || !o.response) return undefined;
  if (method === "MGet" && o.response.results.length !== request.keys.length)
    return `MGet of ${request.keys.length} keys answered ${o.response.results.length} results`;
  if (method === "MSet" && o.response.versions.length !== request.items.length)
    return `MSet of ${request.items.length} items answered ${o.response.versions.length} versions`;
  if (method === "Batch" && o.response.results.length !== request.calls.length)
    return `Batch of ${request.calls.length} calls answered ${o.response.results.length} results`;
  if (method === "Set" && !(o.response.version > 0n)) return "Set answered ok without a version";
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Raw requests: hand-made bodies in every protocol

const PROTOCOLS = ["connect-json", "connect-proto", "grpc", "grpc-web"];

function pathOf(method) {
  return `/${REQUESTS[method].path}/${method}`;
}

/**
 * Sends a body in one protocol over HTTP/1.1 or HTTP/2 and classifies the answer as a
 * client of that protocol would.
 */
async function sendRaw(env, node, { protocol, json, method, body, h2, headers = {}, envelopeFlags = 0, enveloped }) {
  if (method === "ConfigureStore" && body !== undefined) body = guardConfigureStore(body, json);
  const streaming = REQUESTS[method]?.streaming === true;
  const path = headers[":path"] ?? pathOf(method);
  const h = { ...headers };
  delete h[":path"];
  let contentType;
  let payload = body;
  let classify;
  if (protocol === "connect-json" || protocol === "connect-proto") {
    if (streaming) {
      contentType = json ? "application/connect+json" : "application/connect+proto";
      if (enveloped !== false) payload = envelope(body, envelopeFlags);
      classify = classifyConnectStream;
    } else {
      contentType = json ? "application/json" : "application/proto";
      classify = classifyConnectUnary;
    }
  } else if (protocol === "grpc") {
    contentType = json ? "application/grpc+json" : "application/grpc";
    if (enveloped !== false) payload = envelope(body, envelopeFlags);
    classify = classifyGrpc;
    h.te = "trailers";
    h2 = true;
  } else {
    contentType = json ? "application/grpc-web+json" : "application/grpc-web";
    if (enveloped !== false) payload = envelope(body, envelopeFlags);
    classify = classifyGrpcWeb;
  }
  const allHeaders = { "content-type": contentType, ...h };
  for (const [k, v] of Object.entries(allHeaders)) if (v === undefined) delete allHeaders[k];
  const res = h2
    ? await rawHttp2({ host: node.host, port: node.port, path, headers: allHeaders, body: payload, timeoutMs: env.hangMs })
    : await rawHttp1({ host: node.host, port: node.port, path, headers: allHeaders, body: payload, agent: env.agent, timeoutMs: env.hangMs });
  return classify(res);
}

/** A structurally random request rendered as JSON or binary, with damage, in a random protocol. */
function structuredRaw(rng, ctx, node, form) {
  const method = rng.weighted(METHOD_WEIGHTS);
  const spec = REQUESTS[method];
  const maker = new ValueMaker(rng, ctx, { mode: "raw", hostility: rng.pick([0.1, 0.3, 0.6, 1]) });
  const fields = maker.fixBig(maker.message(spec.fields));
  const damage = rng.pick([0, 0.1, 0.3]);
  const json = form === "json";
  const body = json ? toJson(fields, rng, damage) : rng.bool(0.1) ? brokenBinary(rng) : toBinary(fields, rng, damage);
  const protocol = json
    ? rng.weighted([
        [6, "connect-json"],
        [2, "grpc"],
        [2, "grpc-web"],
      ])
    : rng.weighted([
        [4, "connect-proto"],
        [3, "grpc"],
        [3, "grpc-web"],
      ]);
  const h2 = rng.bool();
  return {
    family: `${form}-raw`,
    method,
    encoding: protocol,
    rpcShaped: true,
    summary: summarize(fields, `${body.length} bytes over HTTP/${h2 ? 2 : 1.1}`),
    run: (env) => sendRaw(env, node, { protocol, json, method, body, h2 }),
  };
}

/** A valid body cut short (and, in enveloped protocols, an envelope promising more). */
function truncated(rng, ctx, node) {
  const method = rng.weighted(METHOD_WEIGHTS);
  const spec = REQUESTS[method];
  const maker = new ValueMaker(rng, ctx, { mode: "raw", hostility: 0 });
  const fields = maker.message(spec.fields);
  const protocol = rng.pick(PROTOCOLS);
  const json = protocol === "connect-json" || (protocol !== "connect-proto" && rng.bool(0.3));
  const full = json ? toJson(fields, rng) : toBinary(fields, rng);
  const cut = full.subarray(0, rng.int(Math.max(1, full.length)));
  const enveloped = protocol === "grpc" || protocol === "grpc-web" || spec.streaming === true;
  // In an envelope: either the prefix tells the truth about the cut body, or it promises the full one.
  const body = enveloped && rng.bool(0.5) ? Buffer.concat([envelope(full).subarray(0, 5), cut]) : cut;
  return {
    family: "truncated",
    method,
    encoding: protocol,
    rpcShaped: true,
    run: (env) => sendRaw(env, node, { protocol, json, method, body, h2: rng.bool(), enveloped: enveloped && body === cut ? undefined : false }),
  };
}

const WRONG_CONTENT_TYPES = [
  "text/plain",
  "application/xml",
  "",
  "application/json; charset=latin1",
  "application/proto; foo=bar",
  "application/grpc+xml",
  "application/connect+json",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "APPLICATION/JSON",
  "application/json;charset=UTF-8",
  "application/grpc-web-text",
  "application/grpc-web-text+proto",
  "application/json, application/proto",
  `application/${"x".repeat(8000)}`,
  "application/protobuf",
  "application/x-protobuf",
];

/** A body sent under a content type the method does not speak (or none at all). */
function contentType(rng, ctx, node) {
  const method = rng.weighted(METHOD_WEIGHTS);
  const maker = new ValueMaker(rng, ctx, { mode: "raw", hostility: 0.1 });
  const fields = maker.message(REQUESTS[method].fields);
  const body = rng.bool() ? toJson(fields, rng) : toBinary(fields, rng);
  const type = rng.pick(WRONG_CONTENT_TYPES);
  const h2 = rng.bool();
  const headers = type === "" && rng.bool() ? {} : { "content-type": type };
  return {
    family: "content-type",
    method,
    encoding: "http",
    rpcShaped: false,
    run: async (env) => {
      const res = h2
        ? await rawHttp2({ host: node.host, port: node.port, path: pathOf(method), headers, body, timeoutMs: env.hangMs })
        : await rawHttp1({ host: node.host, port: node.port, path: pathOf(method), headers, body, agent: env.agent, timeoutMs: env.hangMs });
      // Judged as the protocol the content type names, if it names one.
      const t = type.toLowerCase();
      if (t.startsWith("application/connect+")) return classifyConnectStream(res);
      if (t.startsWith("application/grpc-web")) return classifyGrpcWeb(res);
      if (t.startsWith("application/grpc")) return classifyGrpc(res);
      return classifyConnectUnary(res);
    },
  };
}

/** gRPC and gRPC-Web bodies whose envelopes are broken. */
function grpcEnvelope(rng, ctx, node) {
  const method = rng.weighted(METHOD_WEIGHTS);
  const maker = new ValueMaker(rng, ctx, { mode: "raw", hostility: 0.1 });
  const message = toBinary(maker.message(REQUESTS[method].fields), rng);
  const protocol = rng.pick(["grpc", "grpc-web"]);
  const headers = {};
  let body;
  switch (rng.int(13)) {
    case 0:
      body = Buffer.alloc(0);
      break;
    case 1:
      body = envelope(message).subarray(0, rng.range(1, 4));
      break;
    case 2: {
      body = envelope(message);
      body.writeUInt32BE(message.length + rng.range(1, 1000), 1);
      break;
    }
    case 3: {
      body = envelope(message);
      body.writeUInt32BE(rng.pick([0xffffffff, 0x7fffffff, 4 * 1024 * 1024 + 1]), 1);
      break;
    }
    case 4:
      body = envelope(message, 0x01); // compressed, without grpc-encoding
      break;
    case 5:
      headers["grpc-encoding"] = rng.pick(["gzip", "br", "snappy", "identity", "x".repeat(300)]);
      body = envelope(rng.bytes(rng.range(0, 64)), 0x01);
      break;
    case 6:
      body = envelope(message, rng.pick([0x80, 0xff, 0x02, 0x7e]));
      break;
    case 7:
      body = Buffer.concat([envelope(message), envelope(message)]); // two messages in a unary call
      break;
    case 8:
      body = Buffer.concat([envelope(message), rng.bytes(rng.range(1, 4))]); // trailing partial envelope
      break;
    case 9:
      body = envelope(Buffer.alloc(0));
      break;
    case 10:
      body = envelope(brokenBinary(rng));
      break;
    case 11:
      headers["grpc-encoding"] = "gzip";
      body = envelope(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff, 0xde, 0xad]), 0x01); // truncated gzip
      break;
    default:
      body = rng.bytes(rng.range(5, 300)); // no envelope at all
  }
  return {
    family: "grpc-envelope",
    method,
    encoding: protocol,
    rpcShaped: true,
    summary: `${Object.entries(headers)
      .map(([k, v]) => `${k}: ${JSON.stringify(String(v).slice(0, 20))}, `)
      .join("")}body ${body.length} bytes: ${Buffer.from(body.subarray(0, 12)).toString("hex")}…`,
    run: (env) => sendRaw(env, node, { protocol, json: false, method, body, h2: protocol === "grpc" || rng.bool(), headers, enveloped: false }),
  };
}

/** Connect GET requests: query parameters valid, damaged, missing or huge; GET on methods with side effects. */
function connectGet(rng, ctx, node) {
  const sideEffects = rng.bool(0.15);
  const method = sideEffects ? rng.pick(["Set", "Delete", "Incr", "MSet"]) : rng.pick(GET_METHODS);
  const maker = new ValueMaker(rng, ctx, { mode: "raw", hostility: rng.pick([0, 0.3, 1]) });
  const fields = maker.message(REQUESTS[method].fields);
  const json = toJson(fields, rng);
  const bin = toBinary(fields, rng);
  const params = new URLSearchParams();
  const variant = rng.int(9);
  switch (variant) {
    case 0:
      params.set("encoding", "json");
      params.set("message", json.toString("utf8"));
      break;
    case 1:
      params.set("encoding", "proto");
      params.set("base64", "1");
      params.set("message", Buffer.from(bin).toString("base64url"));
      break;
    case 2:
      params.set("encoding", "json");
      break;
    case 3:
      params.set("message", json.toString("utf8"));
      break;
    case 4:
      params.set("encoding", rng.pick(["xml", "", "JSON", "proto;x"]));
      params.set("message", json.toString("utf8"));
      break;
    case 5:
      params.set("encoding", "proto");
      params.set("base64", "1");
      params.set("message", "!!!not base64!!!");
      break;
    case 6:
      params.set("encoding", "json");
      params.set("compression", rng.pick(["gzip", "zstd", "br"]));
      params.set("message", "garbage");
      break;
    case 7:
      params.set("encoding", "json");
      params.set("connect", rng.pick(["v2", "", "1"]));
      params.set("message", json.toString("utf8"));
      break;
    default:
      params.set("encoding", "json");
      params.set("message", `{"key":"${"q".repeat(rng.pick([20_000, 70_000]))}"}`);
  }
  // Huge URLs go over HTTP/1.1 only: Node's HTTP/2 client aborts the fuzzer itself on
  // header blocks that large (nodejs/node#35233), which is not what this request tests.
  const h2 = variant !== 8 && rng.bool();
  const path = `${pathOf(method)}?${params}`;
  return {
    family: "connect-get",
    method,
    encoding: "connect-json",
    rpcShaped: !sideEffects,
    run: async (env) => {
      const res = h2
        ? await rawHttp2({ host: node.host, port: node.port, method: "GET", path, headers: {}, timeoutMs: env.hangMs })
        : await rawHttp1({ host: node.host, port: node.port, method: "GET", path, headers: {}, agent: env.agent, timeoutMs: env.hangMs });
      return classifyConnectUnary(res);
    },
  };
}

const CONNECT_TIMEOUTS = ["0", "1", "-1", "abc", "99999999999", "9999999999", "1.5", "", "00000001", "1e3", " 5"];
const GRPC_TIMEOUTS = ["0n", "1m", "1H", "99999999S", "100000000S", "1x", "S", "-1S", "1", "0S", "99999999H", "1.5S"];

const GRPC_UNIT_MS = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The deadline a well-formed connect-timeout-ms or grpc-timeout header sets, in ms. */
function headerDeadlineMs(headers) {
  const connect = headers["connect-timeout-ms"];
  if (connect !== undefined) return /^\d{1,10}$/.test(connect) ? Number(connect) : undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(headers["grpc-timeout"] ?? "");
  return m ? Number(m[1]) * GRPC_UNIT_MS[m[2]] : undefined;
}

/** Valid bodies with odd protocol headers: deadlines, versions, encodings. */
function protocolHeaders(rng, ctx, node) {
  const method = rng.weighted(METHOD_WEIGHTS.filter(([, m]) => m !== "TransferLeader"));
  const maker = new ValueMaker(rng, ctx, { mode: "raw", hostility: 0 });
  const fields = maker.message(REQUESTS[method].fields);
  const protocol = rng.pick(PROTOCOLS);
  const json = protocol === "connect-json";
  const headers = {};
  let deadline = false;
  if (protocol === "connect-json" || protocol === "connect-proto") {
    const r = rng.int(4);
    if (r === 0) {
      headers["connect-timeout-ms"] = rng.pick(CONNECT_TIMEOUTS);
      deadline = true;
    } else if (r === 1) headers["connect-protocol-version"] = rng.pick(["1", "2", "", "abc", "1, 1"]);
    else if (r === 2) headers["content-encoding"] = rng.pick(["gzip", "br", "zstd", "identity, gzip", "x"]);
    else headers[REQUESTS[method].streaming ? "connect-content-encoding" : "connect-accept-encoding"] = rng.pick(["gzip", "zstd", "garbage"]);
  } else {
    const r = rng.int(3);
    if (r === 0) {
      headers["grpc-timeout"] = rng.pick(GRPC_TIMEOUTS);
      deadline = true;
    } else if (r === 1) headers["grpc-accept-encoding"] = rng.pick(["zstd", "", "gzip,,,"]);
    else headers["grpc-encoding"] = rng.pick(["identity", "gzip", "zstd"]);
  }
  const body = json ? toJson(fields, rng) : toBinary(fields, rng);
  const deadlineMs = headerDeadlineMs(headers);
  return {
    family: "protocol-headers",
    method,
    encoding: protocol,
    rpcShaped: true,
    deadline,
    summary: `${Object.entries(headers)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join(", ")}; ${summarize(fields, `${body.length} bytes`)}`,
    // A deadline of a minute or more cannot have passed, or cut a forwarded call, within seconds.
    check: (o) =>
      deadlineMs !== undefined &&
      deadlineMs >= 60_000 &&
      o.elapsedMs < 5000 &&
      (o.code === "deadline_exceeded" || (o.code === "unavailable" && /cancel/i.test(o.message ?? "")))
        ? `a caller deadline of ${deadlineMs} ms ended the call after ${o.elapsedMs} ms`
        : undefined,
    run: (env) => sendRaw(env, node, { protocol, json, method, body, h2: rng.bool(), headers }),
  };
}

/** Bodies above the request limit, in every protocol, and a declared length far beyond it. */
function oversized(rng, ctx, node) {
  const method = rng.pick(["Set", "MSet", "Get", "MGet", "Stats"]);
  const protocol = rng.pick(PROTOCOLS);
  const json = protocol === "connect-json";
  const lie = rng.bool(0.3) && protocol !== "grpc";
  return {
    family: "oversized",
    method,
    encoding: protocol,
    rpcShaped: true,
    run: async (env) => {
      if (lie) {
        // Headers declare a body of a gigabyte; only a few bytes follow, then the client waits.
        const contentType = protocol === "connect-json" ? "application/json" : protocol === "connect-proto" ? "application/proto" : "application/grpc-web";
        const head = `POST ${pathOf(method)} HTTP/1.1\r\nhost: ${node.host}\r\ncontent-type: ${contentType}\r\ncontent-length: 1000000000\r\n\r\n{"key":`;
        const r = await rawTcp({ host: node.host, port: node.port, chunks: [Buffer.from(head)], holdMs: 3000 });
        return classifyRawHttpText(r, protocol);
      }
      const body = json ? env.bigBuffers.json : env.bigBuffers.garbage;
      return sendRaw(env, node, { protocol, json, method, body, h2: rng.bool() });
    },
  };
}

/** Parses a status line, headers and a body out of raw HTTP/1.1 bytes. */
function classifyRawHttpText(result, protocol) {
  const raw = result.received;
  const end = raw.indexOf("\r\n\r\n");
  const m = end < 0 ? null : /^HTTP\/1\.[01] (\d{3})[^\r]*\r\n([\s\S]*)$/.exec(raw.toString("latin1", 0, end));
  if (!m)
    return result.closedByServer
      ? { code: "reset", via: "reset", message: "closed without an answer" }
      : { code: "timeout", via: "timeout", message: "no answer while the body was pending" };
  const status = Number(m[1]);
  const headers = {};
  for (const line of m[2].split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = dechunk(body);
  const res = { status, headers, body, trailers: {} };
  if (protocol === "grpc-web") return classifyGrpcWeb(res);
  return classifyConnectUnary(res);
}

function dechunk(body) {
  const out = [];
  let offset = 0;
  for (;;) {
    const end = body.indexOf("\r\n", offset);
    if (end < 0) break;
    const size = parseInt(body.toString("latin1", offset, end), 16);
    if (!(size > 0)) break;
    out.push(body.subarray(end + 2, end + 2 + size));
    offset = end + 2 + size + 2;
  }
  return Buffer.concat(out);
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** An HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
function h2Frame(type, flags, stream, payload, declared = payload.length) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(declared & 0xffffff, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal header fields without indexing, no Huffman coding. */
function hpack(headers) {
  const parts = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    parts.push(Buffer.from([0x00]), hpackLength(n.length), n, hpackLength(v.length), v);
  }
  return Buffer.concat(parts);
}

function hpackLength(n) {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  n -= 127;
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** Bytes on the client port that are no RPC at all: broken HTTP/1.1 and HTTP/2. */
function httpGarbage(rng, ctx, node) {
  const path = pathOf(rng.pick(["Get", "Set", "Stats"]));
  const variants = [
    () => [rng.bytes(rng.range(1, 4096))],
    () => [Buffer.from(`POST ${path} HTTP/9.9\r\nhost: x\r\n\r\n`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\nbroken header line\r\n\r\n`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\nx-big: ${"b".repeat(rng.pick([20_000, 100_000]))}\r\n\r\n`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\n${Array.from({ length: 3000 }, (_, i) => `x-h${i}: v`).join("\r\n")}\r\n\r\n`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`)],
    () => [
      Buffer.from(
        `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
      ),
    ],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: -5\r\n\r\n{}`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 7\r\n\r\n{}`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-fold: a\r\n  b\r\ncontent-length: 2\r\n\r\n{}`)],
    () => [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\u0000\r\ncontent-length: 2\r\n\r\n{}`, "latin1")],
    () => [Buffer.from(`${"A".repeat(rng.pick([100, 70_000]))} / HTTP/1.1\r\n\r\n`)],
    () => [H2_PREFACE, rng.bytes(rng.range(1, 2000))],
    () => [H2_PREFACE, h2Frame(0x4, 0, 0, Buffer.from([0, 4, 0xff, 0xff, 0xff, 0xff]))], // SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1
    () => [H2_PREFACE, h2Frame(0x4, 0, 0, Buffer.alloc(0)), h2Frame(0x1, 0x4 | 0x1, 1, rng.bytes(rng.range(1, 200)))], // HEADERS of garbage HPACK
    () => [H2_PREFACE, h2Frame(0x4, 0, 0, Buffer.alloc(0)), h2Frame(0x0, 0x1, 1, Buffer.from("{}"))], // DATA on an idle stream
    () => [H2_PREFACE, h2Frame(0x4, 0, 0, Buffer.alloc(0)), h2Frame(0x1, 0x4, 1, Buffer.alloc(10), 0xffffff)], // frame above max size
    () => [H2_PREFACE.subarray(0, rng.range(1, H2_PREFACE.length - 1))],
    () => {
      // A header block of 70 KB or more, in HEADERS and CONTINUATION frames of 16 KiB.
      const block = hpack([
        [":method", "POST"],
        [":path", path],
        [":scheme", "http"],
        [":authority", "x"],
        ["content-type", "application/json"],
        ["x-big", "b".repeat(rng.pick([70_000, 200_000]))],
      ]);
      const frames = [H2_PREFACE, h2Frame(0x4, 0, 0, Buffer.alloc(0))];
      for (let off = 0; off < block.length; off += 16_384) {
        const last = off + 16_384 >= block.length;
        frames.push(h2Frame(off === 0 ? 0x1 : 0x9, (last ? 0x4 : 0) | (off === 0 ? 0x1 : 0), 1, block.subarray(off, off + 16_384)));
      }
      return frames;
    },
    () => [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), rng.bytes(100)], // a TLS ClientHello
    () => [
      H2_PREFACE,
      h2Frame(0x4, 0, 0, Buffer.alloc(0)),
      h2Frame(
        0x1,
        0x4 | 0x1,
        1,
        hpack([
          [":method", "POST"],
          [":path", path],
          [":scheme", "http"],
          [":authority", "x"],
          ["content-type", "application/grpc"],
          ["te", "trailers"],
          ["Upper-Case", "bad"],
        ]),
      ),
    ],
  ];
  const chunks = rng.pick(variants)();
  return {
    family: "http-garbage",
    method: "(http)",
    encoding: "http",
    rpcShaped: false,
    check: (o) => (o.status !== undefined && o.status >= 500 ? `garbage bytes got HTTP ${o.status}` : undefined),
    run: async (env) => classifyTcp(await rawTcp({ host: node.host, port: node.port, chunks, holdMs: Math.min(env.hangMs, 2000) })),
  };
}

// ---------------------------------------------------------------------------------------
// Connections that stall mid-request

function stall(rng, ctx, node) {
  const path = pathOf(rng.pick(["Get", "Set", "MSet"]));
  const kind = rng.pick([
    "h1-half-headers",
    "h1-half-body",
    "h1-trickle",
    "h2-half-body",
    "h2-half-headers",
    "grpc-half-envelope",
    "peer-half-handshake",
    "peer-half-frame",
  ]);
  return {
    family: "stall",
    method: "(stall)",
    encoding: kind.startsWith("peer") ? "peer" : "http",
    rpcShaped: false,
    stall: true,
    run: (env) => runStall(env, node, kind, path, rng, ctx),
  };
}

async function runStall(env, node, kind, path, rng, ctx) {
  const holdMs = env.stallMs;
  const body = Buffer.from(JSON.stringify({ key: "stall", text: "x".repeat(2000) }));
  switch (kind) {
    case "h1-half-headers": {
      const head = `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-len`;
      return stallOutcome(await rawTcp({ host: node.host, port: node.port, chunks: [Buffer.from(head)], holdMs }));
    }
    case "h1-half-body": {
      const head = `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
      return stallOutcome(await rawTcp({ host: node.host, port: node.port, chunks: [Buffer.from(head), body.subarray(0, body.length >> 1)], holdMs }));
    }
    case "h1-trickle": {
      // One byte of the body every 250 ms: the request never completes within the hold.
      const head = `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
      const { socketPromise, write } = trickleSocket(node);
      write(Buffer.from(head));
      let i = 0;
      const timer = setInterval(() => write(body.subarray(i, ++i)), 250);
      const r = await socketPromise(holdMs);
      clearInterval(timer);
      return stallOutcome(r);
    }
    case "h2-half-headers": {
      // HEADERS without END_HEADERS: the server must wait for a CONTINUATION that never comes.
      const block = hpack([
        [":method", "POST"],
        [":path", path],
        [":scheme", "http"],
        [":authority", "x"],
        ["content-type", "application/json"],
      ]);
      const chunks = [H2_PREFACE, h2Frame(0x4, 0, 0, Buffer.alloc(0)), h2Frame(0x1, 0, 1, block.subarray(0, block.length >> 1))];
      return stallOutcome(await rawTcp({ host: node.host, port: node.port, chunks, holdMs }));
    }
    case "h2-half-body":
    case "grpc-half-envelope": {
      const grpc = kind === "grpc-half-envelope";
      const chunks = grpc ? [envelope(rng.bytes(1000)).subarray(0, 400)] : [body.subarray(0, body.length >> 1)];
      const headers = grpc
        ? { "content-type": "application/grpc", te: "trailers" }
        : { "content-type": "application/json", "content-length": String(body.length) };
      return stallOutcome(await halfStreamH2(node, path, headers, chunks, holdMs));
    }
    case "peer-half-handshake": {
      const conn = dial({ host: node.peerHost, port: node.peerPort });
      const challenge = await conn.challenge(2000);
      if (challenge) conn.write(handshakeAnswer(ctx.secret ?? "x".repeat(16), challenge, ctx.memberIds[0], node.id).subarray(0, 10));
      const closed = await conn.closedWithin(holdMs);
      conn.destroy();
      return { code: closed ? "closed_by_server" : "held", via: "stall" };
    }
    default: {
      // After a valid handshake, a frame whose length prefix promises more than is sent.
      if (!ctx.secret) return { code: "skipped_no_secret", via: "stall" };
      const conn = await handshake(ctx, node, ctx.memberIds.find((id) => id !== node.id) ?? "fz");
      if (conn.verdict !== "accepted") return { code: `handshake_${conn.verdict}`, via: "stall" };
      conn.conn.write(frame(Buffer.alloc(100), 5000));
      const closed = await conn.conn.closedWithin(holdMs);
      conn.conn.destroy();
      return { code: closed ? "closed_by_server" : "held", via: "stall" };
    }
  }
}

function stallOutcome(r) {
  if ("received" in r) {
    const answered = /^HTTP\/1\.[01] (\d{3})/.exec(r.received.toString("latin1", 0, 20));
    if (answered) return { code: `answered_http_${answered[1]}`, via: "stall" };
    return { code: r.closedByServer ? "closed_by_server" : "held", via: "stall" };
  }
  return { code: r.code, via: "stall" };
}

function trickleSocket(node) {
  const received = [];
  let closedByServer = false;
  const socket = rawSocket(node, received, () => (closedByServer = true));
  return {
    write: (b) => {
      if (!socket.destroyed) socket.write(b);
    },
    socketPromise: (ms) =>
      new Promise((resolve) =>
        setTimeout(() => {
          socket.destroy();
          resolve({ received: Buffer.concat(received), closedByServer });
        }, ms),
      ),
  };
}

function rawSocket(node, received, onClose) {
  const socket = net.connect({ host: node.host, port: node.port });
  socket.on("data", (d) => received.push(d));
  socket.on("close", onClose);
  socket.on("error", () => socket.destroy());
  return socket;
}
function halfStreamH2(node, path, headers, chunks, holdMs) {
  return new Promise((resolve) => {
    const session = http2.connect(`http://${node.host}:${node.port}`);
    let status = 0;
    let closed = false;
    session.on("error", () => (closed = true));
    session.on("close", () => (closed = true));
    const stream = session.request({ ":method": "POST", ":path": path, ...headers }, { endStream: false });
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("error", () => (closed = true));
    stream.on("close", () => (closed = true));
    stream.on("data", () => {});
    for (const c of chunks) stream.write(c);
    setTimeout(() => {
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
      setTimeout(() => session.destroy(), 1000).unref();
      resolve({ code: status ? `answered_http_${status}` : closed ? "closed_by_server" : "held" });
    }, holdMs);
  });
}

// ---------------------------------------------------------------------------------------
// The peer port

/** Dials a node's peer port and answers its challenge as `from`. */
async function handshake(ctx, node, from, { secret = ctx.secret, to = node.id, pieces = 1 } = {}) {
  const conn = dial({ host: node.peerHost, port: node.peerPort });
  const challenge = await conn.challenge(3000);
  if (!challenge) return { conn, verdict: "no_challenge" };
  // As the member it claims to be: the data dir incarnation nodes know it by, when known.
  const answer = handshakeAnswer(secret, challenge, from, to, undefined, ctx.incarnations?.[from]);
  if (pieces <= 1) conn.write(answer);
  else for (let i = 0; i < answer.length; i++) conn.write(answer.subarray(i, i + 1));
  return { conn, verdict: await conn.verdict(3000), challenge };
}

/** Garbage and bad answers before the handshake: none may be accepted. */
function peerPre(rng, ctx, node) {
  const variants = [
    "garbage",
    "wrong-mac",
    "wrong-secret",
    "wrong-to",
    "id-length",
    "too-long",
    "replayed",
    "bytewise",
    "early-garbage",
    "magic-echo",
    "non-member",
    "self",
  ];
  if (VERSIONED) variants.push("wrong-cluster", "wrong-version");
  const variant = rng.pick(variants);
  const from = rng.pick(ctx.memberIds.filter((id) => id !== node.id));
  const mustAccept = variant === "bytewise";
  return {
    family: "peer-pre",
    method: "(peer)",
    encoding: "peer",
    rpcShaped: false,
    check: (o) => {
      if (o.code === "accepted" && !mustAccept) return `peer handshake "${variant}" was accepted`;
      if (mustAccept && o.code !== "accepted" && ctx.secret) return `a valid handshake sent a byte at a time was ${o.code}`;
      return undefined;
    },
    run: async () => {
      if (variant === "bytewise") {
        if (!ctx.secret) return { code: "skipped_no_secret", via: "peer" };
        const { conn, verdict } = await handshake(ctx, node, from, { pieces: 2 });
        conn.destroy();
        return { code: verdict, via: "peer" };
      }
      if (variant === "non-member" || variant === "self") {
        // A correct MAC from a node that is not another member of the cluster.
        if (!ctx.secret) return { code: "skipped_no_secret", via: "peer" };
        const { conn, verdict } = await handshake(ctx, node, variant === "self" ? node.id : rng.pick(["fz-peer", "n99", "N1"]));
        conn.destroy();
        return { code: verdict, via: "peer" };
      }
      const conn = dial({ host: node.peerHost, port: node.peerPort });
      if (variant === "early-garbage") {
        await conn.connected;
        conn.write(rng.bytes(rng.range(1, 700)));
        const verdict = await conn.verdict(1500);
        conn.destroy();
        return { code: verdict, via: "peer" };
      }
      const challenge = await conn.challenge(3000);
      if (!challenge) {
        conn.destroy();
        return { code: "no_challenge", via: "peer" };
      }
      const secret = ctx.secret ?? "not-the-secret-0000";
      // Bad answers are made from a valid one, so they follow the protocol's layout.
      const valid = handshakeAnswer(secret, challenge, from, node.id);
      let answer;
      switch (variant) {
        case "garbage":
          answer = rng.bytes(rng.range(1, 600));
          break;
        case "wrong-mac":
          answer = Buffer.concat([valid.subarray(0, valid.length - 32), rng.bytes(32)]);
          break;
        case "wrong-secret":
          answer = handshakeAnswer(`${secret}x`, challenge, from, node.id);
          break;
        case "wrong-to":
          answer = handshakeAnswer(secret, challenge, from, rng.pick([`${node.id}x`, ctx.memberIds.find((id) => id !== node.id) ?? "zz"]));
          break;
        case "id-length": {
          answer = Buffer.from(valid);
          answer[ANSWER_PREFIX_BYTES] = rng.pick([0, 65, 200, 255]);
          break;
        }
        case "too-long":
          answer = Buffer.concat([valid.subarray(0, ANSWER_PREFIX_BYTES), Buffer.from([64]), Buffer.alloc(64, 0x61), rng.bytes(700)]);
          break;
        case "replayed":
          // An answer computed for another nonce: a recorded handshake must not work again.
          answer = handshakeAnswer(secret, withOtherNonce(challenge, rng.bytes(32)), from, node.id);
          break;
        case "wrong-cluster":
          answer = handshakeAnswer(secret, challenge, from, node.id, Buffer.from(rng.bytes(16)));
          break;
        case "wrong-version":
          answer = Buffer.concat([
            otherVersionPreamble(rng.pick([0, 1, PEER_PROTOCOL_VERSION - 1, PEER_PROTOCOL_VERSION + 1, 0xffffffff].filter((v) => v !== PEER_PROTOCOL_VERSION))),
            valid.subarray(ANSWER_PREFIX_BYTES),
          ]);
          break;
        default:
          answer = challenge; // echo the challenge back
      }
      conn.write(answer);
      const verdict = await conn.verdict(1500);
      conn.destroy();
      return { code: verdict, via: "peer" };
    },
  };
}

/** After a valid handshake: malformed frames, unknown types, oversized frames, short ReadIndex contexts. */
function peerPost(rng, ctx, node) {
  const others = ctx.memberIds.filter((id) => id !== node.id);
  const from = rng.pick(others);
  const frames = [];
  let expectClose = false;
  const kinds = [];
  for (let n = rng.range(1, 4); n > 0; n--) {
    const kind = rng.weighted([
      [3, "garbage"],
      [3, "malformed"],
      [3, "unknown-type"],
      [1, "wrong-destination"],
      [2, "beyond-safe"],
      [1, "transfer-no-transferee"],
      [1, "unknown-entry-kind"],
      [1, "empty"],
      [1, "unknown-batch-field"],
      [4, "short-read-index"],
      [2, "short-read-index-resp"],
      [2, "bad-side-frame"],
      [1, "access-samples"],
      [1, "oversized"],
      [0.2, "large"],
    ]);
    kinds.push(kind);
    if (kind === "oversized") {
      expectClose = true;
      frames.push(Buffer.concat([frame(Buffer.alloc(0), rng.pick([64 * 1024 * 1024 + 1, 0xffffffff, 0x80000000])), rng.bytes(rng.range(0, 64))]));
      break; // nothing after it can be read
    }
    frames.push(frame(peerPayload(kind, rng, ctx, node)));
  }
  return {
    family: "peer-post",
    method: "(peer)",
    encoding: "peer",
    rpcShaped: false,
    check: (o) => {
      if (o.code === "handshake_refused" || o.code === "handshake_silent") return `a valid handshake (from ${from}) was ${o.code.slice(10)}`;
      if (expectClose && o.code === "open") return `the peer port kept a connection after an oversized frame (${kinds.join(", ")})`;
      return undefined;
    },
    run: async () => {
      if (!ctx.secret) return { code: "skipped_no_secret", via: "peer" };
      const { conn, verdict } = await handshake(ctx, node, from);
      if (verdict !== "accepted") {
        conn.destroy();
        return { code: `handshake_${verdict}`, via: "peer" };
      }
      for (const f of frames) conn.write(f);
      const closed = await conn.closedWithin(expectClose ? 2000 : 150);
      conn.destroy();
      return { code: closed ? "closed" : "open", via: "peer", message: kinds.join(",") };
    },
  };
}

function peerPayload(kind, rng, ctx, node) {
  const group = rng.bool(0.8) ? rng.int(ctx.shardCount) : rng.pick([ctx.shardCount, 99, 2 ** 32 - 1]);
  switch (kind) {
    case "garbage":
      return rng.bytes(rng.range(1, 4096));
    case "malformed":
      return rng.pick([
        Uint8Array.from([0x0a, 0xff]),
        Uint8Array.from([0x0a, 0x7f, 1, 2]),
        Uint8Array.from([0x0b, 0x0c]),
        Uint8Array.from([0x0e]),
        Uint8Array.from([0x0f, 1, 2, 3]),
        Uint8Array.from([0x00, 0x00]),
        new ProtoWriter().tag(1, WIRE.LEN).overlongVarint(3n, 11).finish(),
        peerBatch([new ProtoWriter().raw([0x1a, 0x02]).raw(INVALID_UTF8[0]).raw([0x61])]),
        peerBatch([new ProtoWriter().uint(1, group).uint(2, 9).tag(3, WIRE.LEN).varint(50).raw([0x6e])]),
      ]);
    case "unknown-type":
      return peerBatch([raftMessage({ group, type: rng.pick([0, 13, 99, 2 ** 31, 2 ** 53 - 1]), to: node.id, term: 0 })]);
    case "wrong-destination":
      return peerBatch([raftMessage({ group, type: 9, to: rng.pick(["", `${node.id}x`, "\u0000"]), term: 0, context: new Uint8Array(8) })]);
    case "beyond-safe":
      return peerBatch([
        raftMessage({ group, type: 9, to: node.id, term: rng.pick([2n ** 53n, 2n ** 64n - 1n]), index: rng.pick([2n ** 53n + 1n, 2n ** 63n]) }),
      ]);
    case "transfer-no-transferee":
      return peerBatch([raftMessage({ group, type: 11, to: node.id, term: 0 })]);
    case "unknown-entry-kind":
      // Type 99 first: a decoder that gets past the entry still refuses the message.
      return peerBatch([
        raftMessage({
          group,
          type: 99,
          to: node.id,
          term: 0,
          entries: [
            new ProtoWriter()
              .uint(1, 1)
              .uint(2, 1)
              .uint(3, rng.pick([0, 4, 99]))
              .bytes(4, rng.bytes(8)),
          ],
        }),
      ]);
    case "empty":
      return new Uint8Array(0);
    case "unknown-batch-field":
      return new ProtoWriter()
        .uint(rng.pick([4, 5, 15, 1000]), 7)
        .fixed64(6, 1)
        .bytes(7, rng.bytes(10))
        .finish();
    case "short-read-index": {
      // A ReadIndex request as a follower forwards it (term 0) with a context shorter than a read id.
      const context = rng.bytes(rng.range(0, 7));
      return peerBatch([raftMessage({ group: rng.int(ctx.shardCount), type: 9, to: node.id, term: 0, context: context.length ? context : undefined })]);
    }
    case "short-read-index-resp": {
      const context = rng.bytes(rng.range(0, 7));
      return peerBatch([
        raftMessage({ group: rng.int(ctx.shardCount), type: 10, to: node.id, term: 0, index: 0, context: context.length ? context : undefined }),
      ]);
    }
    case "bad-side-frame":
      // Snapshot-chunk (field 2) and access-sample (field 3) frames that do not decode.
      return Buffer.concat([
        Buffer.from([rng.pick([0x12, 0x1a])]),
        Buffer.from(rng.pick([[0xff, 0xff, 0xff, 0xff, 0x0f], [0x05, 0x01], [0x80]])),
        rng.bytes(rng.range(0, 30)),
      ]);
    case "access-samples": {
      const samples = new ProtoWriter().uint(1, group);
      for (let i = rng.range(0, 20); i > 0; i--) {
        if (rng.bool(0.2))
          samples
            .tag(2, WIRE.LEN)
            .varint(2)
            .raw(rng.pick(INVALID_UTF8).slice(0, 2).concat([0x61, 0x61]).slice(0, 2));
        else samples.bytes(2, rng.pick(ctx.pool.junk));
      }
      return new ProtoWriter().bytes(3, samples).finish();
    }
    case "large":
      return rng.bytes(rng.pick([1024 * 1024, 4 * 1024 * 1024]));
    default:
      throw new Error(`no peer payload ${kind}`);
  }
}
