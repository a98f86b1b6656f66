// A 4th node joins a local 3-node cluster holding `--keys` keys of `--value-bytes`, under
// load: SDK workers (default timeoutMs, routing by the client) and callers that send
// Connect JSON Sets to n1 only, as curl does (forwarded by n1). Measures, from the start
// of `--join`: the time until the new node serves, until every shard has 3 committed
// voters and no learner with 9 of the 36 replicas on the new node, and until leaders are
// balanced too (3 per node); the replicas moved (voters added and removed, from the
// groups' own configurations), the snapshot bytes the nodes sent
// (distcache_snapshot_bytes_sent) and the bytes the new node received from its peers
// (distcache_peer_bytes_received: log entries and snapshots, what the moves copied). Reports the SDK's failures and the one-node callers'
// answers by code. Prints one JSON line.
//
//   npm run build && node tools/bench/join-settle.mjs [--keys 100000] [--value-bytes 100] [--sdk-workers 4]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, ClusterService } from "@distcache/proto";
import { createNodeCacheClient } from "@distcache/client/node";
import { freePorts, planCluster, startCluster, startNode, stopNode } from "../scripts/local-nodes.mjs";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "100000" },
    "value-bytes": { type: "string", default: "100" },
    "sdk-workers": { type: "string", default: "4" },
  },
});
const keys = Number(values.keys);
const value = "x".repeat(Number(values["value-bytes"]));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const transport = (url) => createConnectTransport({ baseUrl: url, httpVersion: "1.1" });

const dataRoot = mkdtempSync(join(tmpdir(), "distcache-join-bench-"));
const plan = await planCluster({ count: 3 });
const nodes = await startCluster(plan, { dataRoot });
const all = [...nodes];

/** Every shard's voters, learners and leader, as node `url` reports them. */
async function shardsAt(url) {
  const { topology } = await createClient(ClusterService, transport(url)).getTopology({}, { timeoutMs: 3000 });
  return topology.shards;
}

/** The sum of a metric over `members`. */
async function metricSum(members, name) {
  let sum = 0;
  for (const n of members) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    sum += Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? 0);
  }
  return sum;
}

async function load() {
  const cache = createClient(CacheService, transport(nodes[0].url));
  const started = performance.now();
  for (let i = 0; i < keys; i += 100) {
    const items = Array.from({ length: Math.min(100, keys - i) }, (_, j) => ({ key: `k${i + j}`, payload: { case: "text", value } }));
    await cache.mSet({ items }, { timeoutMs: 30_000 });
  }
  return performance.now() - started;
}

/** SDK workers writing and reading their own keys until stopped; failures by error name. */
function sdkLoad(client, workers) {
  const failures = {};
  let calls = 0;
  let stop = false;
  const done = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          if (i % 2) await client.get(`sdk${w}-${i % 500}`);
          else await client.set(`sdk${w}-${i % 500}`, value);
          calls++;
        } catch (err) {
          failures[err.name] = (failures[err.name] ?? 0) + 1;
        }
      }
    }),
  );
  return { result: () => ({ calls, failures }), stop: async () => ((stop = true), await done) };
}

/** Connect JSON Sets to one node until stopped: answers by code, and unavailable answers without a retry hint. */
function oneNodeLoad(url) {
  const codes = {};
  let unhinted = 0;
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const res = await fetch(`${url}/distcache.v1.CacheService/Set`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-timeout-ms": "5000" },
        body: JSON.stringify({ key: `curl-${i % 500}`, text: value }),
      }).catch(() => undefined);
      const body = res ? await res.json().catch(() => ({})) : {};
      const code = res?.status === 200 ? "ok" : (body.code ?? "no_answer");
      codes[code] = (codes[code] ?? 0) + 1;
      if (code === "unavailable" && !/retry/i.test(body.message ?? "")) unhinted++;
    }
  })();
  return { result: () => ({ codes, unavailableWithoutRetryHint: unhinted }), stop: async () => ((stop = true), await done) };
}

const replicasOn = (shards, id) => shards.filter((s) => s.replicas.includes(id)).length;
const settledReplicas = (shards) => shards.every((s) => s.replicas.length === 3 && s.learners.length === 0) && replicasOn(shards, "n4") === 9;
const leadersBalanced = (shards) => ["n1", "n2", "n3", "n4"].every((id) => shards.filter((s) => s.leaderId === id).length === 3);

async function waitFor(url, done, since) {
  for (;;) {
    const shards = await shardsAt(url).catch(() => undefined);
    if (shards && done(shards)) return { shards, ms: performance.now() - since };
    if (performance.now() - since > 900_000) throw new Error("not settled within 900 s");
    await sleep(200);
  }
}

try {
  const loadMs = await load();
  const before = await shardsAt(nodes[0].url);
  const bytesBefore = await metricSum(nodes, "distcache_snapshot_bytes_sent");
  const client = createNodeCacheClient({ endpoints: nodes.map((n) => n.url) });
  const sdk = sdkLoad(client, Number(values["sdk-workers"]));
  const curl = oneNodeLoad(nodes[0].url);
  await sleep(1000);
  const [port, peerPort] = await freePorts(2);
  const joinStarted = performance.now();
  const n4 = await startNode({
    nodeId: "n4",
    port,
    dataDir: join(dataRoot, "n4"),
    args: ["--peer-port", String(peerPort), "--join", nodes[0].url, "--peer-secret", plan.secret],
    startTimeoutMs: 600_000,
  });
  all.push(n4);
  const servingMs = performance.now() - joinStarted;
  const replicasDone = await waitFor(n4.url, settledReplicas, joinStarted);
  const leadersDone = await waitFor(n4.url, (s) => settledReplicas(s) && leadersBalanced(s), joinStarted);
  await sleep(1000);
  await Promise.all([sdk.stop(), curl.stop()]);
  await client.close();
  const after = leadersDone.shards;
  const moved = after.reduce((sum, s, i) => sum + s.replicas.filter((r) => !before[i].replicas.includes(r)).length, 0);
  console.log(
    JSON.stringify({
      keys,
      valueBytes: value.length,
      loadSeconds: +(loadMs / 1000).toFixed(1),
      servingSeconds: +(servingMs / 1000).toFixed(2),
      replicasSettledSeconds: +(replicasDone.ms / 1000).toFixed(1),
      leadersBalancedSeconds: +(leadersDone.ms / 1000).toFixed(1),
      replicasMoved: moved,
      leadersPerNode: Object.fromEntries(["n1", "n2", "n3", "n4"].map((id) => [id, after.filter((s) => s.leaderId === id).length])),
      snapshotBytesSent: (await metricSum(all, "distcache_snapshot_bytes_sent")) - bytesBefore,
      newNodePeerBytesReceived: await metricSum([n4], "distcache_peer_bytes_received"),
      sdk: sdk.result(),
      oneNodeCallers: curl.result(),
    }),
  );
} finally {
  await Promise.all(all.map((n) => stopNode(n, "SIGKILL")));
  rmSync(dataRoot, { recursive: true, force: true });
}
