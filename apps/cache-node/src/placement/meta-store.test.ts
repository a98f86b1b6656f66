import { afterEach, describe, expect, it } from "vitest";
import { closeTestClusters, leaderOf, openTestCluster, until } from "../consensus/testing/multi-raft-harness.js";
import { metaGroupOf } from "../consensus/group-log.js";
import { NotLeaderError } from "../consensus/port-errors.js";
import { bootstrapCommand } from "./meta-group.js";
import { MetaStore } from "./meta-store.js";
import { MetaDriver } from "./meta-driver.js";
import pino from "pino";

const SHARDS = 2;
const META = metaGroupOf(SHARDS);
const ids = ["n1", "n2", "n3"];
const members = ids.map((id, i) => ({ id, clientAddress: `127.0.0.1:${7301 + i}`, peerAddress: `127.0.0.1:${7401 + i}` }));
const placement = [ids, ids];
const bootstrap = bootstrapCommand(members, placement, 2048);
const node = (id: string) => ({ id, clientAddress: `127.0.0.1:1${id.slice(1)}`, peerAddress: `127.0.0.1:2${id.slice(1)}` });

afterEach(() => closeTestClusters());

async function metaCluster() {
  const cluster = await openTestCluster({ ids, shards: SHARDS, metaGroup: true });
  for (const n of cluster.nodes.values()) n.start();
  const leader = await leaderOf(cluster.nodes, META);
  const stores = new Map([...cluster.nodes].map(([id, n]) => [id, new MetaStore(n, META)]));
  return { ...cluster, leader, stores, atLeader: stores.get(leader)! };
}

describe("MetaStore", () => {
  it("writes the bootstrap document at the meta leader, and every replica applies the same one", async () => {
    const { stores, atLeader } = await metaCluster();
    expect(await atLeader.read()).toBeUndefined();
    expect(await atLeader.apply(bootstrap)).toEqual({ ok: true, epoch: 1 });
    await until(() => [...stores.values()].every((s) => s.local()?.state.epoch === 1), "every replica has epoch 1");
    const docs = [...stores.values()].map((s) => JSON.stringify(s.local()!.state));
    expect(new Set(docs).size).toBe(1);
    expect(atLeader.local()!.state.nodes.map((n) => n.id)).toEqual(ids);
    expect(atLeader.local()!.state.placement).toEqual(placement);
  });

  it("answers a refused command with its refusal and writes nothing", async () => {
    const { atLeader } = await metaCluster();
    await atLeader.apply(bootstrap);
    const before = atLeader.local()!;
    expect(await atLeader.apply(bootstrap)).toMatchObject({ ok: false, refusal: { code: "failed_precondition" } });
    expect(await atLeader.apply({ kind: "addNode", ...node("n1") })).toMatchObject({ ok: false, refusal: { code: "already_exists" } });
    expect(atLeader.local()).toEqual(before);
  });

  it("applies concurrent changes one after the other: the one that read an older document decides again", async () => {
    const { atLeader, fatal } = await metaCluster();
    await atLeader.apply(bootstrap);
    // Two writers on the leader race: both read epoch 1; compare-and-set lets one win, the other retries on epoch 2.
    const results = await Promise.all(["n4", "n5", "n6"].map((id) => atLeader.apply({ kind: "addNode", ...node(id) })));
    expect(results.map((r) => r.ok && r.epoch).sort()).toEqual([2, 3, 4]);
    expect(atLeader.local()!.state.nodes.map((n) => n.id)).toEqual(["n1", "n2", "n3", "n4", "n5", "n6"]);
    expect(fatal).toEqual([]);
  });

  it("refuses a change off the leader, before writing anything", async () => {
    const { stores, leader } = await metaCluster();
    const follower = stores.get(ids.find((id) => id !== leader)!)!;
    await expect(follower.apply(bootstrap)).rejects.toBeInstanceOf(NotLeaderError);
    expect(follower.local()).toBeUndefined();
  });
});

describe("MetaDriver", () => {
  it("bootstraps the document once, from whichever node leads, and keeps it across a leader change", async () => {
    const { nodes, stores, leader } = await metaCluster();
    const logger = pino({ level: "silent" });
    const drivers = ids.map((id) => new MetaDriver({ nodeId: id, meta: stores.get(id)!, bootstrap, intervalMs: 20, logger }));
    drivers.forEach((d) => d.start());
    try {
      await until(() => [...stores.values()].every((s) => s.local()?.state.epoch === 1), "bootstrapped everywhere");
      const to = ids.find((id) => id !== leader)!;
      await nodes.get(leader)!.transferLeadership(META, to, 2000);
      // The new leader finds the document and writes nothing.
      await new Promise((r) => setTimeout(r, 200));
      expect([...stores.values()].map((s) => s.local()?.state.epoch)).toEqual([1, 1, 1]);
      expect(stores.get(to)!.local()!.version).toBe(stores.get(leader)!.local()!.version);
    } finally {
      drivers.forEach((d) => d.stop());
    }
  });
});
