import { Code, ConnectError } from "@connectrpc/connect";
import type { ResolvedOptions } from "./client-options.js";
import { backoffDelayMs } from "./retry-policy.js";
import type { NodeClients } from "./node-clients.js";
import type { RoutingTable } from "./routing-table.js";
import { topologyFromMessage, withDiallableAddresses } from "./topology.js";

/**
 * A stream that sends nothing for this long is taken as dead and opened again on another
 * node: nodes send a progress message every 5 s by default (--stream-progress-ms).
 */
export const WATCH_SILENCE_MS_MAX = 15_000;

/**
 * Keeps the routing table current from ClusterService.WatchTopology: one stream at a
 * time, to one node; each message updates leaders, nodes and the epoch. A stream that
 * fails, ends or stays silent is opened again on the next known node, after a backoff
 * that grows while streams keep failing. Calls never wait for it: they route by what the
 * table holds, and still refresh on their own after a NotLeader answer. A node that
 * answers unimplemented (one that has no WatchTopology) ends the watch for good.
 */
export class TopologyWatch {
  private stop: AbortController | undefined;
  private nextNode = 0;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly table: RoutingTable,
    private readonly clients: NodeClients,
  ) {}

  /** Starts watching, once; a no-op while running. */
  start(): void {
    if (this.stop) return;
    this.stop = new AbortController();
    void this.run(this.stop.signal);
  }

  close(): void {
    this.stop?.abort();
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const delivered = await this.watchOnce(signal);
      if (signal.aborted || delivered === "unsupported") return;
      failures = delivered ? 1 : failures + 1;
      await this.options
        .sleep(backoffDelayMs(failures, this.options.backoffMsMin, this.options.backoffMsMax, this.options.random), signal)
        .catch(() => undefined);
    }
  }

  /** One stream, until it fails, ends, stays silent or the watch stops; whether it delivered anything. */
  private async watchOnce(stopped: AbortSignal): Promise<boolean | "unsupported"> {
    const nodes = this.table.nodeAddresses();
    if (nodes.length === 0) return false;
    const address = nodes[this.nextNode++ % nodes.length]!;
    const stream = new AbortController();
    const cut = () => stream.abort();
    stopped.addEventListener("abort", cut, { once: true });
    let silence = setTimeout(cut, WATCH_SILENCE_MS_MAX);
    let delivered = false;
    try {
      for await (const message of this.clients.forAddress(address).cluster.watchTopology({}, { signal: stream.signal })) {
        clearTimeout(silence);
        silence = setTimeout(cut, WATCH_SILENCE_MS_MAX);
        delivered = true;
        if (message.progress) continue;
        const topology = withDiallableAddresses(topologyFromMessage(message.topology), address);
        this.table.apply(topology);
        this.options.onEvent({ type: "topologyRefreshed", epoch: topology.epoch, source: `watch:${this.clients.baseUrlForAddress(address)}` });
      }
    } catch (err) {
      // Failed, cut for silence, or stopped: the loop decides.
      if (err instanceof ConnectError && err.code === Code.Unimplemented && !delivered) return "unsupported";
    } finally {
      clearTimeout(silence);
      stopped.removeEventListener("abort", cut);
    }
    return delivered;
  }
}
