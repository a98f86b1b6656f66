import type { MetaStore } from "./meta-store.js";

/** What every node tells clients of the meta document: the epoch and the nodes. */
export interface MetaSummary {
  epoch: number;
  nodes: { id: string; clientAddress: string; peerAddress: string }[];
}

/** How long a summary fetched from another node answers before it is fetched again. */
const REMOTE_FRESH_MS = 1000;

/**
 * This node's view of the meta document: its own replica's when it holds one (which may
 * trail the group by a round trip), else the summary a node that holds one gave it, at
 * most REMOTE_FRESH_MS old. Epoch 0 means the cluster's document is not known yet.
 */
export class MetaView {
  private remote: MetaSummary | undefined;
  private fetchedAtMs = Number.NEGATIVE_INFINITY;
  private fetching: Promise<MetaSummary | undefined> | undefined;

  constructor(
    private readonly meta: MetaStore,
    /** Asks a node that holds the meta group for its summary; undefined when none answers. */
    private readonly fetchRemote: () => Promise<MetaSummary | undefined>,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** The epoch as known here now, without waiting (0 when not known). */
  epoch(): number {
    if (this.meta.hosted()) return this.meta.local()?.state.epoch ?? 0;
    return this.remote?.epoch ?? 0;
  }

  /** The summary, fetched from another node when this one holds no replica of the meta group. */
  async summary(): Promise<MetaSummary | undefined> {
    if (this.meta.hosted()) return this.localSummary();
    return this.remoteSummary();
  }

  /**
   * The later of this node's own replica's summary and another node's: a replica that
   * its group left while this node was down never learns anything after.
   */
  async freshest(): Promise<MetaSummary | undefined> {
    const local = this.meta.hosted() ? this.localSummary() : undefined;
    const remote = await this.remoteSummary();
    return (remote?.epoch ?? 0) > (local?.epoch ?? 0) ? remote : local;
  }

  private localSummary(): MetaSummary | undefined {
    const local = this.meta.local();
    return local && { epoch: local.state.epoch, nodes: local.state.nodes.map(({ id, clientAddress, peerAddress }) => ({ id, clientAddress, peerAddress })) };
  }

  private remoteSummary(): Promise<MetaSummary | undefined> {
    if (this.nowMs() - this.fetchedAtMs < REMOTE_FRESH_MS) return Promise.resolve(this.remote);
    this.fetching ??= this.fetchRemote()
      .catch(() => undefined)
      .then((fetched) => {
        // An answer from a node that trails another never takes the epoch back.
        if (fetched && fetched.epoch >= (this.remote?.epoch ?? 0)) this.remote = fetched;
        this.fetchedAtMs = this.nowMs();
        this.fetching = undefined;
        return this.remote;
      });
    return this.fetching;
  }
}
