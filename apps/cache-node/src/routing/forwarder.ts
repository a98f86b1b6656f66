import { createClient, type Client } from "@connectrpc/connect";
import { batchingClient } from "@distcache/client/call-batching";
import { CacheService } from "@distcache/proto";
import { createLeanTransport } from "./lean-transport.js";

/** Who is where: client addresses of the cluster's members. */
export interface MemberDirectory {
  clientAddress(nodeId: string): string | undefined;
}

/**
 * Clients for forwarding requests to other nodes' client ports: binary Connect over a
 * keep-alive HTTP/1.1 pool per member, created on first use. Single-key calls forwarded
 * to one member in the same turn of the event loop go out together as one Batch.
 */
export class Forwarder {
  private readonly clients = new Map<string, Client<typeof CacheService>>();

  constructor(private readonly directory: MemberDirectory) {}

  client(nodeId: string): Client<typeof CacheService> | undefined {
    let client = this.clients.get(nodeId);
    if (!client) {
      const address = this.directory.clientAddress(nodeId);
      if (!address) return undefined;
      client = batchingClient(createClient(CacheService, createLeanTransport(`http://${address}`)));
      this.clients.set(nodeId, client);
    }
    return client;
  }
}
