import { createClient, type Client } from "@connectrpc/connect";
import { CacheService, ClusterService } from "@distcache/proto";
import { batchingClient } from "./call-batching.js";
import type { TransportFactory } from "./client-options.js";

interface NodeClient {
  cache: Client<typeof CacheService>;
  cluster: Client<typeof ClusterService>;
}

/** Nodes the SDK has talked to; bounds the client cache against a topology that keeps changing. */
export const NODE_CLIENTS_MAX = 1024;

/** The base URL of a seed: no trailing slash, so it reads the same as one built from an address. */
export function baseUrlOf(url: URL): string {
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * One pair of Connect clients per node base URL, made on first use through the injected
 * transport factory (the cache client coalescing single-key calls when autoBatch is on). Node addresses (host:port, as nodes advertise them) are dialled
 * through the address map, with the scheme of the seeds.
 */
export class NodeClients {
  private readonly clients = new Map<string, NodeClient>();

  constructor(
    private readonly factory: TransportFactory,
    private readonly scheme: string,
    private readonly dialAddress: (address: string) => string = (address) => address,
    /** Whether concurrent single-key calls to one node coalesce into Batch requests (call-batching.ts). */
    private readonly autoBatch = false,
  ) {}

  baseUrlForAddress(address: string): string {
    return `${this.scheme}//${this.dialAddress(address)}`;
  }

  forAddress(address: string): NodeClient {
    return this.forBaseUrl(this.baseUrlForAddress(address));
  }

  forBaseUrl(baseUrl: string): NodeClient {
    let client = this.clients.get(baseUrl);
    if (!client) {
      // Forget the oldest rather than grow without bound; it is rebuilt if needed again.
      if (this.clients.size >= NODE_CLIENTS_MAX) this.clients.delete(this.clients.keys().next().value!);
      const transport = this.factory(baseUrl);
      const cache = createClient(CacheService, transport);
      client = { cache: this.autoBatch ? batchingClient(cache) : cache, cluster: createClient(ClusterService, transport) };
      this.clients.set(baseUrl, client);
    }
    return client;
  }
}
