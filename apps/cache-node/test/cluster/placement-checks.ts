import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "@distcache/proto";
import { ReplicaControlService } from "@distcache/proto/raft";
import { expect } from "vitest";
import { ADMIN_TOKEN_HEADER, PEER_TOKEN_HEADER, adminToken, controlToken, nodeAudience } from "../../src/peer/control-token.js";
import { SHARDS, STRONG, type TestCluster, retrying, sleep, text } from "./cluster-harness.js";

// Checks of placement on real processes, against every group's Raft configuration as
// its leader reports it (ReplicaControlService.GroupStatus), not only the meta document.

export const GROUPS = SHARDS + 1; // the shards and the meta group

/** Adds the admin token of `secret` to every call (AddNode and RemoveNode need it). */
export const asAdmin =
  (secret: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set(ADMIN_TOKEN_HEADER, adminToken(secret));
    return next(req);
  };

/** ClusterService at node `id`, as an administrator. */
export const clusterClient = (cluster: TestCluster, id: string) =>
  createClient(ClusterService, createConnectTransport({ baseUrl: cluster.nodes.get(id)!.url, httpVersion: "1.1", interceptors: [asAdmin(cluster.secret())] }));
const control = (cluster: TestCluster, id: string) =>
  createClient(ReplicaControlService, createConnectTransport({ baseUrl: cluster.nodes.get(id)!.url, httpVersion: "1.1" }));

export interface GroupsView {
  /** The groups each node holds a replica of. */
  hosted: Map<string, number[]>;
  /** Each group's configuration, as its leader reports it. */
  leaders: Map<number, { leader: string; voters: string[]; learners: string[]; committed: boolean }>;
}

/** Every group's configuration as its leader has it, and the groups each live node holds. */
export async function groupsNow(cluster: TestCluster, live: readonly string[]): Promise<GroupsView> {
  const hosted = new Map<string, number[]>();
  const leaders: GroupsView["leaders"] = new Map();
  for (const id of live) {
    const headers = { [PEER_TOKEN_HEADER]: controlToken(cluster.secret(), nodeAudience(id)) };
    const { groups } = await control(cluster, id).groupStatus({}, { headers, timeoutMs: 3000 });
    hosted.set(
      id,
      groups.map((g) => g.group),
    );
    for (const g of groups) {
      if (g.leading) leaders.set(g.group, { leader: id, voters: [...g.voters].sort(), learners: g.learners, committed: g.membershipCommitted });
    }
  }
  return { hosted, leaders };
}

/** Waits until `done` holds for the groups, within timeoutMs; the last view otherwise. */
export async function groupsBecome(cluster: TestCluster, live: readonly string[], done: (g: GroupsView) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await groupsNow(cluster, live).catch(() => undefined);
    if (g && done(g)) return g;
    if (Date.now() > deadline) return g;
    await sleep(250);
  }
}

/** Shard groups (the meta group not counted) whose committed voters include `id`. */
export function shardsVotedBy(g: GroupsView, id: string): number[] {
  return [...g.leaders].filter(([group, c]) => group < SHARDS && c.committed && c.voters.includes(id)).map(([group]) => group);
}

/** Every group has exactly the committed voters `ids` (in any order), and no learner. */
export function everyGroupOn(ids: readonly string[]) {
  const expected = [...ids].sort().join();
  return (g: GroupsView) => [...Array(GROUPS).keys()].every((group) => configured(g, group, (c) => c.voters.join() === expected));
}

/** Every group has 3 committed voters and no learner, and `joined` votes in 9 of the 12 shard groups. */
export function joinSettled(joined: string) {
  return (g: GroupsView) =>
    [...Array(GROUPS).keys()].every((group) => configured(g, group, (c) => c.voters.length === 3)) && shardsVotedBy(g, joined).length === 9;
}

/** Whether `group`'s leader reports a committed configuration, without learners, that `holds`. */
function configured(g: GroupsView, group: number, holds: (c: { voters: string[] }) => boolean): boolean {
  const c = g.leaders.get(group);
  return c !== undefined && c.committed && c.learners.length === 0 && holds(c);
}

/** The groups whose configuration names `id`, in order. */
export function hostedBy(g: GroupsView, id: string): number[] {
  return [...g.leaders]
    .filter(([, c]) => c.voters.includes(id))
    .map(([group]) => group)
    .sort((a, b) => a - b);
}

/** Writes keys through `via` until stopped; the value acknowledged last for each key. */
export function writer(cluster: TestCluster, via: () => string) {
  const acked = new Map<string, string>();
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const key = `w${i % 400}`;
      const value = `v${i}`;
      try {
        await cluster.client(via()).set({ key, payload: text(value) }, { timeoutMs: 3000 });
        acked.set(key, value);
      } catch {
        // Unacknowledged: the key may hold this value or an earlier one; it is written again later.
        acked.delete(key);
        await sleep(50);
      }
    }
  })();
  return {
    acked,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** Every acknowledged key reads back, STRONG, through `via`. */
export async function readsBack(cluster: TestCluster, acked: ReadonlyMap<string, string>, via: string) {
  for (const [key, value] of acked) {
    const got = await retrying(() => cluster.client(via).get({ key, consistency: STRONG }, { timeoutMs: 3000 }));
    expect(got.found && got.payload.case === "text" ? got.payload.value : undefined, key).toBe(value);
  }
}
