import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "@distcache/proto";
import { FORWARDED_HEADER } from "./cluster-service.js";
import type { MetaSummary } from "../placement/meta-view.js";

/** How long one node may take to answer before the next is asked. */
const FETCH_TIMEOUT_MS = 1000;

/**
 * The meta summary from the first of `addresses` (client addresses of nodes that hold the
 * meta group) that answers with a known epoch, asked as a forwarded call so it answers
 * from its own replica; undefined when none does.
 */
export async function fetchMetaSummary(addresses: readonly string[], selfId: string): Promise<MetaSummary | undefined> {
  for (const address of addresses.filter(Boolean)) {
    try {
      const client = createClient(ClusterService, createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "1.1" }));
      const { topology } = await client.getTopology({}, { timeoutMs: FETCH_TIMEOUT_MS, headers: { [FORWARDED_HEADER]: selfId } });
      if (topology && topology.epoch > 0n) {
        const nodes = topology.nodes.map(({ id, clientAddress, peerAddress }) => ({ id, clientAddress, peerAddress }));
        return { epoch: Number(topology.epoch), nodes };
      }
    } catch {
      // Down or not answering: ask the next.
    }
  }
  return undefined;
}
