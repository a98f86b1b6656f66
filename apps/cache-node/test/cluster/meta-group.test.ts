import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "@distcache/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, sleep } from "./cluster-harness.js";

// The meta group (placement/meta-group.ts) on real processes: a 4-node cluster, whose
// meta group is on n1-n3, so n4 answers from what a node holding it tells it.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(4);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

const topologyOf = async (id: string) => {
  const url = cluster.nodes.get(id)!.url;
  const client = createClient(ClusterService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  return (await client.getTopology({}, { timeoutMs: 3000 })).topology!;
};

/** The topology `id` answers once `ready` holds for it, within 15 s. */
async function topologyOnce(id: string, ready: (t: Awaited<ReturnType<typeof topologyOf>>) => boolean) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const t = await topologyOf(id).catch(() => undefined);
    if (t && ready(t)) return t;
    if (Date.now() > deadline) throw new Error(`${id}: GetTopology answered ${t ? `epoch ${t.epoch}` : "nothing"}`);
    await sleep(100);
  }
}

describe("the meta group", () => {
  it("holds the bootstrap document: every node answers GetTopology with epoch 1 and the four nodes", async () => {
    for (const id of ["n1", "n2", "n3", "n4"]) {
      const topology = await topologyOnce(id, (t) => t.epoch === 1n);
      expect(topology.nodes.map((n) => n.id)).toEqual(["n1", "n2", "n3", "n4"]);
    }
  });

  it("keeps its document across a restart of every node: the epoch stays 1", async () => {
    for (const id of ["n1", "n2", "n3", "n4"]) await cluster.kill(id);
    await Promise.all(["n1", "n2", "n3", "n4"].map((id) => cluster.restart(id)));
    for (const id of ["n1", "n2", "n3", "n4"]) {
      expect((await topologyOnce(id, (t) => t.epoch > 0n)).epoch).toBe(1n);
    }
  });
});
