import { createConnectTransport } from "@connectrpc/connect-web";
import { createCacheClient, type CacheClient } from "./cache-client.js";
import type { CacheClientOptions } from "./client-options.js";

export interface WebCacheClientOptions extends Omit<CacheClientOptions, "transport" | "seeds" | "onClose"> {
  /** Base URLs of some cluster nodes, for example ["https://cache.example.com:7301"]. */
  endpoints: readonly string[];
  /** The fetch to use; the global one by default. */
  fetch?: typeof globalThis.fetch;
}

/**
 * A client for browsers (and other fetch runtimes): binary Connect over fetch. The
 * nodes must allow the page's origin (CORS) to call them.
 */
export function createWebCacheClient(options: WebCacheClientOptions): CacheClient {
  const { endpoints, fetch, ...rest } = options;
  return createCacheClient({
    ...rest,
    seeds: endpoints,
    transport: (baseUrl) => createConnectTransport({ baseUrl, useBinaryFormat: true, ...(fetch ? { fetch } : {}) }),
  });
}
