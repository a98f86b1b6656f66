import { createClient, type Client } from "@connectrpc/connect";
import { batchingClient } from "@distcache/client/call-batching";
import { CacheService } from "@distcache/proto";
import { createLeanTransport } from "./lean-transport.js";
import type { PeerCallClient } from "./peer-calls.js";

/** Who is where: client addresses of the cluster's members. */
export interface MemberDirectory {
  clientAddress(nodeId: string): string | undefined;
}

/**
 * Clients for forwarding requests to other nodes, created on first use. Writes (Set,
 * Delete, Incr) travel on the peer links, next to the log entries they become (on the
 * client port while the link is down or not yet open); reads and
 * multi-key calls, whose answers can be large, go to the member's client port as binary
 * Connect over a keep-alive HTTP/1.1 pool. Either way, single-key calls forwarded to one
 * member in the same turn of the event loop go out together as one Batch.
 */
export class Forwarder {
  private readonly clients = new Map<string, Client<typeof CacheService>>();

  constructor(
    private readonly directory: MemberDirectory,
    private readonly peerCalls?: PeerCallClient,
  ) {}

  client(nodeId: string): Client<typeof CacheService> | undefined {
    let client = this.clients.get(nodeId);
    if (!client) {
      const address = this.directory.clientAddress(nodeId);
      if (!address) return undefined;
      const lean = createLeanTransport(`http://${address}`);
      const http = batchingClient(createClient(CacheService, lean));
      const peer = this.peerCalls && batchingClient(createClient(CacheService, this.peerCalls.transport(nodeId, lean)));
      client = peer ? { ...http, set: peer.set, delete: peer.delete, incr: peer.incr } : http;
      this.clients.set(nodeId, client);
    }
    return client;
  }
}
