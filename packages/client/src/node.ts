import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createCacheClient, type CacheClient } from "./cache-client.js";
import type { CacheClientOptions } from "./client-options.js";

export interface NodeCacheClientOptions extends Omit<CacheClientOptions, "transport" | "seeds" | "onClose"> {
  /** Base URLs of some cluster nodes, for example ["http://127.0.0.1:7301"]; the rest is discovered. */
  endpoints: readonly string[];
}

/**
 * A client for Node.js: binary Connect over HTTP/2, one multiplexed connection per
 * node. close() shuts those connections.
 */
export function createNodeCacheClient(options: NodeCacheClientOptions): CacheClient {
  const { endpoints, ...rest } = options;
  const sessions: Http2SessionManager[] = [];
  return createCacheClient({
    ...rest,
    seeds: endpoints,
    transport: (baseUrl) => {
      const sessionManager = new Http2SessionManager(baseUrl);
      sessions.push(sessionManager);
      return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager });
    },
    onClose: () => {
      for (const session of sessions.splice(0)) session.abort();
    },
  });
}
