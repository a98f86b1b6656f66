/** Request indexes per shard, each list in request order; shards in order of first appearance. */
export function groupByShard<T>(items: readonly T[], shardOf: (item: T) => number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const shard = shardOf(item);
    const list = groups.get(shard);
    if (list) list.push(i);
    else groups.set(shard, [i]);
  });
  return groups;
}

/** Shards that go to one leader in one request (reads only). */
export interface LeaderGroup {
  shards: number[];
  /** Request indexes, ordered shard by shard. */
  indexes: number[];
}

/**
 * Merges shard groups that share a known leader, so a read batch costs one request
 * per leader. Shards without a known leader stay alone: they are routed separately.
 */
export function groupByLeader(byShard: ReadonlyMap<number, number[]>, leaderOf: (shard: number) => string | undefined): LeaderGroup[] {
  const byLeader = new Map<string, LeaderGroup>();
  const alone: LeaderGroup[] = [];
  for (const [shard, indexes] of byShard) {
    const leader = leaderOf(shard);
    const group = leader === undefined ? undefined : byLeader.get(leader);
    if (group) {
      group.shards.push(shard);
      group.indexes.push(...indexes);
    } else if (leader === undefined) {
      alone.push({ shards: [shard], indexes: [...indexes] });
    } else {
      byLeader.set(leader, { shards: [shard], indexes: [...indexes] });
    }
  }
  return [...byLeader.values(), ...alone];
}

/**
 * Waits for every part (so nothing of a batch is still in flight when it fails), then
 * throws the failure of the earliest part, or returns every result in part order.
 */
export async function settleAll<R>(parts: readonly Promise<R>[]): Promise<R[]> {
  const settled = await Promise.allSettled(parts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
