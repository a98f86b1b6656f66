// Failover as a writer sees it, against etcd, over `kills` kills each: the leader (for
// distcache, the leader of the shard a probe key lives on) is killed with SIGKILL while a
// writer writes that key in a loop; the figure is the time from the kill to the first
// write acknowledged after it. The killed member is then started again on its data dir,
// and the next round waits until it serves.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createNodeCacheClient } from "@distcache/client/node";
import { Ring } from "@distcache/ring";
import { EtcdKV } from "./drivers/etcd-kv.mjs";
import { median } from "./summary.mjs";

const encoder = new TextEncoder();
/**
 * How long the etcd writer waits on one member before it tries the next: short, so that
 * a put stuck on the killed leader does not hide how fast etcd elects (its clients would
 * learn of the lost connection their own way).
 */
const ETCD_CALL_TIMEOUT_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes with `write` until one is acknowledged after `after`; resolves with that time. */
async function firstAckAfter(write, after, deadlineMs) {
  while (performance.now() < after + deadlineMs) {
    const sentAt = performance.now();
    const ok = await write().then(
      () => true,
      () => false,
    );
    if (ok && sentAt >= after) return performance.now();
    if (!ok) await sleep(5);
  }
  throw new Error(`no write was acknowledged within ${deadlineMs} ms of the kill`);
}

/** The node leading `key`'s shard, once the cluster reports one (after a restart it may still be electing). */
async function leaderOf(client, key) {
  for (let tries = 0; tries < 200; tries++) {
    const topology = await client.topology();
    const shards = Array.from({ length: topology.shardCount }, (_, i) => i);
    const shard = new Ring(shards, { pointsPerShard: topology.pointsPerShard }).shardFor(key);
    const leader = topology.shards.find((s) => s.id === shard)?.leaderId;
    if (leader) return leader;
    await sleep(50);
  }
  throw new Error(`no leader reported for the shard of ${key} within 10 s`);
}

/** distcache: kills the leader of the probe key's shard; the SDK finds the new one. */
export async function distcacheFailover(handle, kills) {
  const times = [];
  for (let round = 0; round < kills; round++) {
    const client = createNodeCacheClient({ endpoints: handle.urls() });
    try {
      const key = `failover:${round}`;
      await client.set(key, "before");
      const leader = await leaderOf(client, key);
      const killedAt = await handle.kill(leader);
      const ackedAt = await firstAckAfter(() => client.set(key, `after ${round}`), killedAt, 30_000);
      times.push(ackedAt - killedAt);
      await handle.restart(leader);
    } finally {
      await client.close();
    }
  }
  return summarizeFailover(times);
}

/** etcd: kills the leader; the writer moves to the next member on each failure or after ETCD_CALL_TIMEOUT_MS. */
export async function etcdFailover(handle, kills) {
  const times = [];
  for (let round = 0; round < kills; round++) {
    const urls = handle.urls();
    const clients = urls.map((baseUrl) => createClient(EtcdKV, createGrpcTransport({ baseUrl })));
    const leader = await handle.leader();
    let turn = urls.indexOf(leader) < 0 ? 0 : urls.indexOf(leader);
    const key = encoder.encode(`failover:${round}`);
    const write = async () => {
      try {
        await clients[turn % clients.length].put({ key, value: encoder.encode(String(round)) }, { timeoutMs: ETCD_CALL_TIMEOUT_MS });
      } catch (err) {
        turn++;
        throw err;
      }
    };
    await write();
    const killedAt = await handle.kill(leader);
    const ackedAt = await firstAckAfter(write, killedAt, 30_000);
    times.push(ackedAt - killedAt);
    await handle.restart(leader);
  }
  return summarizeFailover(times);
}

function summarizeFailover(times) {
  const ms = times.map((t) => Math.round(t));
  return { kills: ms.length, medianMs: median(ms), maxMs: Math.max(...ms), ms };
}
