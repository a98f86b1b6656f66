import type { GroupStatus } from "../consensus/multi-raft.js";
import type { MetaSummary } from "./meta-view.js";

/** One shard's group as this node knows it. */
export interface ShardView {
  shard: number;
  /** The leader's node id; undefined while none is known. */
  leaderId: string | undefined;
  term: number;
  voters: string[];
  learners: string[];
}

/** The cluster as this node knows it: the meta document's epoch and nodes, and every shard's group. */
export interface TopologyView {
  epoch: number;
  nodes: MetaSummary["nodes"];
  shards: ShardView[];
}

export interface ClusterViewOptions {
  nodeId: string;
  shardCount: number;
  /** This node's own replica of a group, when it holds one. */
  local: (group: number) => GroupStatus | undefined;
  /** Another node's replicas of `groups`; undefined when it does not answer. */
  remote: (node: string, groups: readonly number[]) => Promise<Map<number, GroupStatus> | undefined>;
  /** The meta document's epoch and nodes, as fresh as this node can know them. */
  summary: () => Promise<MetaSummary | undefined>;
  /** The epoch as this node knows it now, without waiting: a higher one than the summary's has it read again at once. */
  epochNow: () => number;
  /** How often shards this node holds no replica of are asked of the nodes that do. */
  remoteIntervalMs: number;
  /** How often this node's own replicas are looked at for a change. */
  localIntervalMs: number;
}

export type TopologyListener = (view: TopologyView) => void;

/**
 * Every shard's leader, term and replicas, and the meta document's epoch and nodes, as
 * this node knows them: its own replicas' state for the shards it holds (looked at every
 * localIntervalMs), and for the others what the nodes holding them answered at the last
 * poll (every remoteIntervalMs; none at all while this node holds every shard). Leader
 * changes are never written anywhere: this view is rebuilt from the groups themselves.
 * Listeners hear each change of epoch, nodes, a leader, a term or a group's replicas.
 */
export class ClusterView {
  private remoteShards = new Map<number, ShardView>();
  private summary: MetaSummary | undefined;
  private readonly listeners = new Set<TopologyListener>();
  private signature = "";
  private timers: NodeJS.Timeout[] = [];
  private polling = false;

  constructor(private readonly options: ClusterViewOptions) {}

  start(): void {
    const { localIntervalMs, remoteIntervalMs } = this.options;
    this.timers = [setInterval(() => this.check(), localIntervalMs).unref(), setInterval(() => void this.poll(), remoteIntervalMs).unref()];
    void this.poll();
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.listeners.clear();
  }

  /** The view now. */
  current(): TopologyView {
    const shards = Array.from({ length: this.options.shardCount }, (_, shard) => this.shard(shard));
    return { epoch: this.summary?.epoch ?? 0, nodes: this.summary?.nodes ?? [], shards };
  }

  /** The shard's leader as this node knows it. */
  leaderOf(shard: number): string | undefined {
    return this.shard(shard).leaderId;
  }

  /** Calls `listener` after each change; returns the function that stops it. */
  subscribe(listener: TopologyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Asks the other nodes for the shards this node holds no replica of, and reads the meta summary again. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      this.summary = (await this.options.summary().catch(() => undefined)) ?? this.summary;
      const missing = Array.from({ length: this.options.shardCount }, (_, shard) => shard).filter((shard) => !this.options.local(shard));
      if (missing.length > 0) this.remoteShards = await this.askOthers(missing);
      else this.remoteShards.clear();
    } finally {
      this.polling = false;
    }
    this.check();
  }

  private shard(shard: number): ShardView {
    const status = this.options.local(shard);
    if (status) return viewOf(shard, status);
    return this.remoteShards.get(shard) ?? { shard, leaderId: undefined, term: 0, voters: [], learners: [] };
  }

  /** Per missing shard, the view of the replica that leads it at the highest term, else of the one at the highest term. */
  private async askOthers(missing: readonly number[]): Promise<Map<number, ShardView>> {
    const others = (this.summary?.nodes ?? []).map((n) => n.id).filter((id) => id !== this.options.nodeId);
    const answers = await Promise.all(others.map((id) => this.options.remote(id, missing).catch(() => undefined)));
    const best = new Map<number, GroupStatus>();
    for (const answer of answers) {
      for (const [shard, status] of answer ?? []) {
        const known = best.get(shard);
        if (missing.includes(shard) && (!known || rank(status) > rank(known))) best.set(shard, status);
      }
    }
    return new Map([...best].map(([shard, status]) => [shard, viewOf(shard, status)]));
  }

  /** Tells the listeners if anything changed since they last heard. */
  private check(): void {
    if (this.options.epochNow() > (this.summary?.epoch ?? 0)) {
      void this.poll();
      return;
    }
    const view = this.current();
    const signature = signatureOf(view);
    if (signature === this.signature) return;
    this.signature = signature;
    for (const listener of this.listeners) listener(view);
  }
}

/** Leading at a term beats following at it; a higher term beats both. */
function rank(status: GroupStatus): number {
  return status.term * 2 + (status.leading ? 1 : 0);
}

function viewOf(shard: number, status: GroupStatus): ShardView {
  return { shard, leaderId: status.leaderId, term: status.term, voters: [...status.voters], learners: [...status.learners] };
}

function signatureOf(view: TopologyView): string {
  const nodes = view.nodes.map((n) => `${n.id}@${n.clientAddress}/${n.peerAddress}`).join(",");
  const shards = view.shards.map((s) => `${s.leaderId ?? ""}:${s.term}:${s.voters.join("+")}:${s.learners.join("+")}`).join(",");
  return `${view.epoch}|${nodes}|${shards}`;
}
