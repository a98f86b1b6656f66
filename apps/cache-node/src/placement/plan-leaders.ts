/** One shard's group as the leader balancer sees it. */
export interface LedShard {
  shard: number;
  /** The current leader; undefined while none is known (the shard is left alone). */
  leader: string | undefined;
  /** The voters, any of which may lead. */
  voters: readonly string[];
}

/** One leadership transfer the balancer asks for. */
export interface LeaderTransfer {
  shard: number;
  from: string;
  to: string;
}

/**
 * The leadership transfers that make shard leaders per node differ by at most one
 * across `nodes` (those that may lead: live members that answered), where the voters
 * allow it. Data never moves: a shard's leadership only goes to one of its voters.
 *
 * Each step takes leadership from a busiest node that can shed one and hands it, along
 * the shortest chain of shards (a leads s1 where b votes, b leads s2 where c votes, ...),
 * to the least loaded node leading at least two fewer. Each step lowers the sum of squared counts, so
 * the loop ends; shards whose leader ends where it started are not transferred. Pure and
 * deterministic (ties go to the smaller id).
 */
export function planLeaderTransfers(shards: readonly LedShard[], nodes: readonly string[]): LeaderTransfer[] {
  const eligible = new Set(nodes);
  const leaderOf = new Map<number, string>();
  for (const s of shards) if (s.leader !== undefined && eligible.has(s.leader)) leaderOf.set(s.shard, s.leader);
  const count = new Map([...eligible].map((id) => [id, 0]));
  for (const leader of leaderOf.values()) count.set(leader, count.get(leader)! + 1);
  const voters = new Map(shards.map((s) => [s.shard, s.voters.filter((v) => eligible.has(v))]));
  for (let steps = 0; steps <= shards.length * shards.length; steps++) {
    const chain = nextChain(leaderOf, voters, count);
    if (!chain) break;
    for (const hop of chain) leaderOf.set(hop.shard, hop.to);
    const first = chain[0]!.from;
    const last = chain[chain.length - 1]!.to;
    count.set(first, count.get(first)! - 1);
    count.set(last, count.get(last)! + 1);
  }
  const transfers: LeaderTransfer[] = [];
  for (const s of shards) {
    const to = leaderOf.get(s.shard);
    if (s.leader !== undefined && to !== undefined && to !== s.leader) transfers.push({ shard: s.shard, from: s.leader, to });
  }
  return transfers;
}

/** Whether leaders per node (over `nodes`) already differ by at most one. */
export function leadersBalanced(shards: readonly LedShard[], nodes: readonly string[]): boolean {
  const count = new Map(nodes.map((id) => [id, 0]));
  for (const s of shards) if (s.leader !== undefined && count.has(s.leader)) count.set(s.leader, count.get(s.leader)! + 1);
  const counts = [...count.values()];
  return counts.length === 0 || Math.max(...counts) - Math.min(...counts) <= 1;
}

/**
 * A chain of transfers from a busiest node that can shed a leader to one leading at
 * least two fewer: to the least loaded such node, by the shortest chain.
 */
function nextChain(
  leaderOf: ReadonlyMap<number, string>,
  voters: ReadonlyMap<number, readonly string[]>,
  count: ReadonlyMap<string, number>,
): LeaderTransfer[] | undefined {
  const byLoad = [...count.keys()].sort((a, b) => count.get(b)! - count.get(a)! || (a < b ? -1 : 1));
  const led = new Map<string, number[]>();
  for (const [shard, leader] of [...leaderOf].sort((a, b) => a[0] - b[0])) led.set(leader, [...(led.get(leader) ?? []), shard]);
  for (const start of byLoad) {
    // Breadth-first over "x leads a shard where y votes", remembering the hop that reached each node.
    const via = new Map<string, LeaderTransfer | null>([[start, null]]);
    const queue = [start];
    let best: string | undefined;
    while (queue.length > 0) {
      const x = queue.shift()!;
      for (const shard of led.get(x) ?? []) {
        for (const y of [...voters.get(shard)!].sort()) {
          if (via.has(y)) continue;
          via.set(y, { shard, from: x, to: y });
          queue.push(y);
          if (count.get(y)! <= count.get(start)! - 2 && (best === undefined || count.get(y)! < count.get(best)!)) best = y;
        }
      }
    }
    if (best !== undefined) return chainTo(via, best);
  }
  return undefined;
}

function chainTo(via: ReadonlyMap<string, LeaderTransfer | null>, end: string): LeaderTransfer[] {
  const chain: LeaderTransfer[] = [];
  for (let hop = via.get(end); hop; hop = via.get(hop.from)) chain.unshift(hop);
  return chain;
}
