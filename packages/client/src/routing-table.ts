import { Ring } from "@distcache/ring";
import type { CacheEvent } from "./events.js";
import { isDiallable, type Topology } from "./topology.js";

/**
 * What the SDK believes about the cluster: the ring (the same one the server builds
 * from the reported parameters), each node's address, and each shard's leader. It is
 * updated from topology answers and from NotLeader details; it never does I/O.
 */
export class RoutingTable {
  private ring: Ring | undefined;
  private ringParameters = "";
  /** The highest placement epoch a topology answer reported. */
  private knownEpoch = 0n;
  private readonly addresses = new Map<string, string>();
  private readonly leaders = new Map<number, string>();
  /** The leader last reported through leaderChanged, per shard; forgetting one is not reported. */
  private readonly reported = new Map<number, string>();

  constructor(private readonly emit: (event: CacheEvent) => void) {}

  /** True once a topology has been applied, so keys can be mapped to shards. */
  get ready(): boolean {
    return this.ring !== undefined;
  }

  /** The highest placement epoch applied so far (0 before any). */
  get epoch(): bigint {
    return this.knownEpoch;
  }

  apply(topology: Topology): void {
    if (topology.epoch > this.knownEpoch) this.knownEpoch = topology.epoch;
    const parameters = `${topology.shardCount}/${topology.pointsPerShard}`;
    if (parameters !== this.ringParameters) {
      const shards = Array.from({ length: topology.shardCount }, (_, i) => i);
      this.ring = new Ring(shards, topology.pointsPerShard > 0 ? { pointsPerShard: topology.pointsPerShard } : {});
      this.ringParameters = parameters;
    }
    for (const node of topology.nodes) if (isDiallable(node.address)) this.addresses.set(node.id, node.address);
    // An unknown leader in a topology answer does not erase one learned elsewhere: the
    // answering node may simply not have heard from it yet.
    for (const shard of topology.shards) if (shard.leaderId) this.setLeader(shard.id, shard.leaderId);
  }

  shardFor(key: string): number {
    if (!this.ring) throw new Error("routing table used before a topology was applied");
    return this.ring.shardFor(key);
  }

  /** The shard's leader and its address, when both are known. */
  leaderOf(shard: number): { id: string; address: string } | undefined {
    const id = this.leaders.get(shard);
    const address = id === undefined ? undefined : this.addresses.get(id);
    return id !== undefined && address !== undefined ? { id, address } : undefined;
  }

  /** Records a leader (from a NotLeader detail, which may also tell its address). */
  setLeader(shard: number, leaderId: string, address?: string): void {
    if (address !== undefined && isDiallable(address)) this.addresses.set(leaderId, address);
    this.leaders.set(shard, leaderId);
    if (this.reported.get(shard) === leaderId) return;
    this.reported.set(shard, leaderId);
    this.emit({ type: "leaderChanged", shard, leaderId });
  }

  /** Forgets the shard's leader if it is still `leaderId` (it proved unreachable). */
  forgetLeader(shard: number, leaderId: string): void {
    if (this.leaders.get(shard) === leaderId) this.leaders.delete(shard);
  }

  /** Client addresses of every known node, in a stable order. */
  nodeAddresses(): string[] {
    return [...this.addresses.values()].sort();
  }

  /** Known nodes and their addresses. */
  nodes(): { id: string; address: string }[] {
    return [...this.addresses].map(([id, address]) => ({ id, address })).sort((a, b) => a.id.localeCompare(b.id));
  }
}
