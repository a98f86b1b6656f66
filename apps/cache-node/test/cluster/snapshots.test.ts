import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTUAL, SHARDS, STRONG, TestCluster, keyForShard, retrying, sleep, text } from "./cluster-harness.js";

// Snapshots every 20 applied entries, so a few hundred writes compact every shard's log several times.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3, ["--snapshot-entries", "20"]);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

async function digestsMatch(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await Promise.all(
      [...cluster.nodes.keys()].map((id) =>
        cluster
          .client(id)
          .stats({ includeDigests: true })
          .catch(() => undefined),
      ),
    );
    const mismatched = stats.some((s) => !s)
      ? ["(a node is not answering)"]
      : stats[0]!.shards.filter((s) => stats.some((o) => o!.shards.find((x) => x.shard === s.shard)?.digest !== s.digest)).map((s) => String(s.shard));
    if (mismatched.length === 0) return;
    if (Date.now() > deadline) throw new Error(`replica digests differ on shards ${mismatched.join(", ")}`);
    await sleep(200);
  }
}

/** One key per shard, so each MSet appends one entry to every shard's log. */
const keysOf = (round: number) => Array.from({ length: SHARDS }, (_, shard) => keyForShard(shard, `r${round}-`));

describe("snapshots", () => {
  it("a node that missed compacted entries catches up by snapshot, and restarts from its own snapshot", async () => {
    const [a, b, c] = [...cluster.nodes.keys()] as [string, string, string];
    await cluster.kill(c);
    const client = cluster.client(a);
    const rounds = 80;
    // Shards the killed node led are electing at first: each round is retried (same values) until accepted.
    for (let round = 0; round < rounds; round++) {
      await retrying(() => client.mSet({ items: keysOf(round).map((key) => ({ key, payload: text(`${round}`) })) }));
    }
    // Every shard's log was compacted past what the stopped node holds.
    expect((await cluster.driverCounter(a, "snapshotsTaken")) + (await cluster.driverCounter(b, "snapshotsTaken"))).toBeGreaterThanOrEqual(2 * SHARDS);

    await cluster.restart(c);
    await digestsMatch(30_000);
    expect(await cluster.driverCounter(c, "snapshotsInstalled")).toBeGreaterThanOrEqual(1);
    const got = await cluster.client(c).mGet({ keys: keysOf(rounds - 1), consistency: EVENTUAL });
    expect(got.results.map((r) => r.payload.value)).toEqual(keysOf(rounds - 1).map(() => `${rounds - 1}`));

    // More writes so the node takes snapshots of its own, then kill -9 and restart: it
    // recovers from its latest snapshot plus the log after it.
    for (let round = rounds; round < rounds + 40; round++) {
      await retrying(() => client.mSet({ items: keysOf(round).map((key) => ({ key, payload: text(`${round}`) })) }));
    }
    await digestsMatch(15_000);
    const deadline = Date.now() + 10_000;
    while ((await cluster.driverCounter(c, "snapshotsTaken")) < SHARDS && Date.now() < deadline) await sleep(100);
    expect(await cluster.driverCounter(c, "snapshotsTaken")).toBeGreaterThanOrEqual(SHARDS);
    await cluster.kill(c);
    await cluster.restart(c);
    await digestsMatch(30_000);
    for (const round of [0, rounds - 1, rounds + 39]) {
      const strong = await retrying(() => cluster.client(c).mGet({ keys: keysOf(round), consistency: STRONG }));
      expect(strong.results.map((r) => r.payload.value)).toEqual(keysOf(round).map(() => `${round}`));
    }
  });
});
