import type { MetaState } from "../state-machine/meta-state.js";

/**
 * The placement the cluster should move to after its nodes changed: every shard on
 * `replicas` distinct live nodes (all of them when fewer are live), replicas per node
 * differing by at most one, and as few replicas added as that needs. Pure and
 * deterministic (ties go to the smaller node id), so every meta leader plans the same.
 *
 * - A replica stays where it is when its node is live (neither leaving nor gone); a shard
 *   placed on more than `replicas` nodes drops the replicas of its busiest nodes.
 * - A shard short of replicas gets them on the live nodes that lack it and are furthest
 *   below their share (the replicas over the live nodes, the remainder going to the
 *   nodes that hold most already, so that they keep theirs).
 * - Then, while the busiest node holds two or more replicas more than the least busy,
 *   one replica moves from the first to the second (such a shard always exists: the
 *   busier node holds more shards, so at least one the other lacks).
 */
export function planPlacement(state: Pick<MetaState, "nodes" | "placement">, replicas: number): string[][] {
  const live = state.nodes.filter((n) => !n.leaving).map((n) => n.id);
  if (live.length === 0) return state.placement.map((r) => [...r]);
  const want = Math.max(1, Math.min(replicas, live.length));
  const load = new Map(live.map((id) => [id, 0]));
  const plan = state.placement.map((current) => current.filter((id) => load.has(id)));
  for (const shard of plan) for (const id of shard) load.set(id, load.get(id)! + 1);
  for (const shard of plan) {
    while (shard.length > want) {
      const busiest = pick(shard, load, (a, b) => b - a);
      shard.splice(shard.indexOf(busiest), 1);
      load.set(busiest, load.get(busiest)! - 1);
    }
  }
  // Each node's share: the replicas over the live nodes, the remainder to those holding most.
  const total = plan.length * want;
  const byLoad = [...live].sort((a, b) => load.get(b)! - load.get(a)! || (a < b ? -1 : 1));
  const share = new Map(byLoad.map((id, i) => [id, Math.floor(total / live.length) + (i < total % live.length ? 1 : 0)]));
  const room = new Map(live.map((id) => [id, share.get(id)! - load.get(id)!]));
  const fresh = plan.map(() => new Set<string>());
  plan.forEach((shard, s) => {
    while (shard.length < want) {
      const candidates = live.filter((id) => !shard.includes(id));
      let to = pick(candidates, room, (a, b) => b - a);
      if (room.get(to)! <= 0) to = trade(plan, fresh, s, room, load) ?? pick(candidates, load, (a, b) => a - b);
      shard.push(to);
      fresh[s]!.add(to);
      load.set(to, load.get(to)! + 1);
      room.set(to, room.get(to)! - 1);
    }
  });
  balance(plan, live, load);
  return plan.map((shard) => [...shard].sort());
}

/**
 * When every node with room below its share holds shard `s` already: finds a shard where
 * this plan placed a node B (no replica there yet) that `s` lacks, and a node A of `s` with
 * room that the other shard lacks; A takes B's place there, and B is returned to fill `s`
 * (B's count is unchanged, A's grows by one, as a fill would have grown it).
 */
function trade(plan: string[][], fresh: Set<string>[], s: number, room: Map<string, number>, load: Map<string, number>): string | undefined {
  const shard = plan[s]!;
  for (const a of shard.filter((id) => room.get(id)! > 0)) {
    for (let o = 0; o < plan.length; o++) {
      const other = plan[o]!;
      if (o === s || other.includes(a)) continue;
      const b = [...fresh[o]!].find((id) => !shard.includes(id));
      if (b === undefined) continue;
      other[other.indexOf(b)] = a;
      fresh[o]!.delete(b);
      fresh[o]!.add(a);
      for (const [id, by] of [
        [a, 1],
        [b, -1],
      ] as const) {
        load.set(id, load.get(id)! + by);
        room.set(id, room.get(id)! - by);
      }
      return b;
    }
  }
  return undefined;
}

/** Moves replicas from the busiest node to the least busy one until their counts differ by at most one. */
function balance(plan: string[][], live: readonly string[], load: Map<string, number>): void {
  for (;;) {
    const busiest = pick(live, load, (a, b) => b - a);
    const idlest = pick(live, load, (a, b) => a - b);
    if (load.get(busiest)! - load.get(idlest)! <= 1) return;
    const shard = plan.find((s) => s.includes(busiest) && !s.includes(idlest))!;
    shard[shard.indexOf(busiest)] = idlest;
    load.set(busiest, load.get(busiest)! - 1);
    load.set(idlest, load.get(idlest)! + 1);
  }
}

/** The first of `ids` by `order` of load, the smaller id on a tie. */
function pick(ids: readonly string[], load: ReadonlyMap<string, number>, order: (a: number, b: number) => number): string {
  let best = ids[0]!;
  for (const id of ids) {
    const c = order(load.get(id)!, load.get(best)!);
    if (c < 0 || (c === 0 && id < best)) best = id;
  }
  return best;
}

/** The replicas `after` places that `before` did not: each one a replica to create and catch up. */
export function addedReplicas(before: readonly (readonly string[])[], after: readonly (readonly string[])[]): { shard: number; node: string }[] {
  return after.flatMap((nodes, shard) => nodes.filter((id) => !(before[shard] ?? []).includes(id)).map((node) => ({ shard, node })));
}
