import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, retrying, ring, sleep } from "./cluster-harness.js";

const MIB = 1024 * 1024;
const SNAPSHOT_BYTES = 16 * MIB;
/** The node's store bound (--bytes-max): each of the 12 shards holds a few 1 MiB values at most. */
const STORE_BYTES = 64 * MIB;
const WRITES = 300;
const KEYS = Array.from({ length: 10 }, (_, i) => `large-${i}`);

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3, ["--snapshot-bytes", String(SNAPSHOT_BYTES), "--bytes-max", String(STORE_BYTES)]);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line!.split(/\s+/)[1]) * 1024;
}

/** The bytes under dir; a file renamed or removed while du walks it (a temporary file) is not an error. */
function dirBytes(dir: string): number {
  let out: string;
  try {
    out = execFileSync("du", ["-sb", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? "");
  }
  const bytes = Number(out.split("\t")[0]);
  if (!Number.isFinite(bytes) || out === "") throw new Error(`du gave no size for ${dir}`);
  return bytes;
}

describe("large values", () => {
  it("with --snapshot-bytes, 1 MiB values keep every node's memory within its bound and the log's segments are removed", async () => {
    const ids = [...cluster.nodes.keys()];
    const pids = new Map(ids.map((id) => [id, cluster.nodes.get(id)!.pid]));
    const emptyRss = new Map(ids.map((id) => [id, rssBytes(pids.get(id)!)]));
    const peakRss = new Map(ids.map((id) => [id, 0]));
    const peakDir = new Map(ids.map((id) => [id, 0]));
    const sample = () => {
      for (const id of ids) {
        peakRss.set(id, Math.max(peakRss.get(id)!, rssBytes(pids.get(id)!)));
        peakDir.set(id, Math.max(peakDir.get(id)!, dirBytes(cluster.dataDir(id))));
      }
    };
    let writing = true;
    const sampler = (async () => {
      while (writing) {
        sample();
        await sleep(250);
      }
    })();

    const value = new Uint8Array(MIB);
    let next = 0;
    // Each write goes to its shard's leader (any node would forward it there, one hop more).
    const leaders = new Map<number, string>();
    for (const shard of new Set(KEYS.map((k) => ring.shardFor(k)))) leaders.set(shard, await cluster.leaderOf(shard));
    const clients = new Map(ids.map((id) => [id, cluster.client(id)]));
    const writer = async () => {
      for (let i = next++; i < WRITES; i = next++) {
        value[0] = i & 0xff;
        const key = KEYS[i % KEYS.length]!;
        const client = clients.get(leaders.get(ring.shardFor(key))!)!;
        await retrying(() => client.set({ key, payload: { case: "value", value } }, { timeoutMs: 10_000 }), 20);
      }
    };
    const started = Date.now();
    try {
      await Promise.all(Array.from({ length: 6 }, () => writer()));
    } finally {
      writing = false;
      await sampler;
    }
    sample();
    const writeMs = Date.now() - started;

    const shardsWritten = new Set(KEYS.map((k) => ring.shardFor(k))).size;
    const report: Record<string, unknown> = { writes: WRITES, writeMs, shardsWritten };
    for (const id of ids) {
      const bound = emptyRss.get(id)! + STORE_BYTES + 3 * SNAPSHOT_BYTES * shardsWritten + 256 * MIB;
      report[id] = {
        emptyRssMiB: Math.round(emptyRss.get(id)! / MIB),
        peakRssMiB: Math.round(peakRss.get(id)! / MIB),
        boundMiB: Math.round(bound / MIB),
        peakDataDirMiB: Math.round(peakDir.get(id)! / MIB),
        finalDataDirMiB: Math.round(dirBytes(cluster.dataDir(id)) / MIB),
        snapshotsTaken: await cluster.driverCounter(id, "snapshotsTaken"),
      };
      expect(peakRss.get(id)!).toBeLessThan(bound);
      // Snapshots came by bytes: 10,000 entries (the entry trigger) were never reached.
      expect(await cluster.driverCounter(id, "snapshotsTaken")).toBeGreaterThanOrEqual(shardsWritten);
      // The log does not keep all that was written (300 MiB): its segments behind the
      // snapshots are removed.
      expect(dirBytes(cluster.dataDir(id))).toBeLessThan(WRITES * MIB);
    }
    console.log(`large values: ${JSON.stringify(report)}`);
  }, 120_000);
});
