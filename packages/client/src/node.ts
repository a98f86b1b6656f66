import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type http2 from "node:http2";
import { createCacheClient, type CacheClient } from "./cache-client.js";
import type { CacheClientOptions } from "./client-options.js";

export interface NodeCacheClientOptions extends Omit<CacheClientOptions, "transport" | "seeds" | "onClose"> {
  /** Base URLs of some cluster nodes, for example ["http://127.0.0.1:7301"]; the rest is discovered. */
  endpoints: readonly string[];
}

/**
 * What one HTTP/2 connection may buffer, in megabytes. Node resets new streams with
 * ENHANCE_YOUR_CALM once a session holds more than this, and its 10 MB default is
 * passed by a few dozen concurrent 1 MiB writes waiting for flow control: they failed
 * as indeterminate. The client's own bound on writes in flight (writesInFlightMax)
 * is what limits this memory.
 */
const SESSION_MEMORY_MB = 4096;

/** Sessions already given the listener below. */
const guarded = new WeakSet<http2.Http2Session>();

/**
 * An Http2SessionManager whose sessions always have an "error" listener. connect-node
 * destroys a session with an error when the server sends GOAWAY while no stream is open
 * (a node shutting down gracefully), and that error can be emitted after the manager
 * removed its own listeners: with none left, Node throws it and the whole process of
 * the SDK's user exits. The manager still learns of the session's end from "close".
 */
export class GuardedSessionManager extends Http2SessionManager {
  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    const session = stream.session;
    if (session && !guarded.has(session)) {
      guarded.add(session);
      session.on("error", () => undefined);
    }
    return stream;
  }
}

/**
 * A client for Node.js: binary Connect over HTTP/2, one multiplexed connection per
 * node. close() shuts those connections.
 */
export function createNodeCacheClient(options: NodeCacheClientOptions): CacheClient {
  const { endpoints, ...rest } = options;
  const sessions: GuardedSessionManager[] = [];
  return createCacheClient({
    ...rest,
    seeds: endpoints,
    transport: (baseUrl) => {
      const sessionManager = new GuardedSessionManager(baseUrl, undefined, { maxSessionMemory: SESSION_MEMORY_MB });
      sessions.push(sessionManager);
      return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager });
    },
    onClose: () => {
      for (const session of sessions.splice(0)) session.abort();
    },
  });
}
