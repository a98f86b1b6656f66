import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHARDS, TestCluster, sleep } from "./cluster-harness.js";
import {
  GROUPS,
  clusterClient as clusterClientOf,
  everyGroupOn,
  groupsBecome as becomeOf,
  groupsNow as nowOf,
  readsBack as readsBackOf,
  writer as writerOf,
} from "./placement-checks.js";

// The placement driver on real processes: RemoveNode moves a node's replicas to the
// others, through each group's own membership changes, checked against every group's
// Raft configuration as its leader reports it (not only against the meta document).
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(4);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

const clusterClient = (id: string) => clusterClientOf(cluster, id);
const groupsNow = (live: readonly string[]) => nowOf(cluster, live);
const groupsBecome = (live: readonly string[], done: Parameters<typeof becomeOf>[2], timeoutMs: number) => becomeOf(cluster, live, done, timeoutMs);
const writer = (via: () => string) => writerOf(cluster, via);
const readsBack = (acked: ReadonlyMap<string, string>, via: string) => readsBackOf(cluster, acked, via);

describe("the placement driver", () => {
  it("re-creates a dead node's replicas on the others once it is removed, from each group's surviving majority", async () => {
    const before = await groupsNow(["n1", "n2", "n3", "n4"]);
    const onN4 = before.hosted.get("n4")!.filter((g) => g < SHARDS);
    expect(onN4.length).toBe(9);
    await cluster.kill("n4");
    const writes = writer(() => "n1");
    await sleep(500);
    expect((await clusterClient("n2").removeNode({ nodeId: "n4" }, { timeoutMs: 10_000 })).epoch).toBe(2n);
    const live = ["n1", "n2", "n3"];
    const after = await groupsBecome(live, everyGroupOn(["n1", "n2", "n3"]), 60_000);
    await writes.stop();
    for (let group = 0; group < GROUPS; group++) {
      expect(after?.leaders.get(group), `group ${group}`).toMatchObject({ voters: ["n1", "n2", "n3"], learners: [], committed: true });
    }
    for (const id of live) expect(after!.hosted.get(id)).toEqual([...Array(GROUPS).keys()]);
    // Once no group counts it, n4 is removed for good: gone from the document, its id never reused.
    const deadline = Date.now() + 20_000;
    let nodes: string[] = [];
    while (Date.now() < deadline) {
      nodes = (await clusterClient("n3").getTopology({}, { timeoutMs: 3000 })).topology!.nodes.map((n) => n.id);
      if (nodes.length === 3) break;
      await sleep(250);
    }
    expect(nodes).toEqual(live);
    const refused = await clusterClient("n1")
      .addNode({ node: { id: "n4", clientAddress: "127.0.0.1:1", peerAddress: "127.0.0.1:2" } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(refused).toMatchObject({ code: Code.FailedPrecondition });
    expect(writes.acked.size).toBeGreaterThan(0);
    await readsBack(writes.acked, "n3");
  }, 120_000);

  it("moves a live node's replicas away before it leaves, its leaderships first, under writes; the node then stops, and never starts again", async () => {
    const writes = writer(() => "n1");
    await sleep(300);
    const n3 = cluster.nodes.get("n3")!;
    const exited = new Promise<number | null>((resolve) => n3.child.once("exit", (code) => resolve(code)));
    expect((await clusterClient("n1").removeNode({ nodeId: "n3" }, { timeoutMs: 10_000 })).epoch).toBeGreaterThan(0n);
    const after = await groupsBecome(["n1", "n2"], everyGroupOn(["n1", "n2"]), 60_000);
    await writes.stop();
    for (let group = 0; group < GROUPS; group++) {
      expect(after?.leaders.get(group), `group ${group}`).toMatchObject({ voters: ["n1", "n2"], learners: [], committed: true });
    }
    // Once its groups have moved, n3 is forgotten; it sees that, and stops by itself.
    expect(await Promise.race([exited, sleep(30_000).then(() => "still running")])).toBe(0);
    await readsBack(writes.acked, "n2");
    const again = await cluster.restart("n3").then(
      () => "started",
      (err: unknown) => String(err),
    );
    expect(again).toMatch(/node n3 was removed from the cluster .*new --node-id/);
    // Without its marker, it learns of its removal from the document, and stops again.
    rmSync(join(cluster.dataDir("n3"), "removed.json"));
    const back = await cluster.restart("n3");
    const stopped = await new Promise<number | null>((resolve) => {
      if (back.child.exitCode !== null) resolve(back.child.exitCode);
      back.child.once("exit", (code) => resolve(code));
    });
    expect(stopped).toBe(0);
    expect(existsSync(join(cluster.dataDir("n3"), "removed.json"))).toBe(true);
  }, 150_000);
});
