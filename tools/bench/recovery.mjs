// How long a node takes to recover with many keys, on a real 3-node cluster:
//
//  1. catch-up by snapshot: a node is stopped, `--keys` keys are written, and the node
//     is started again; its logs were compacted past what it holds, so every shard
//     arrives as a snapshot streamed in chunks. Timed from spawn until every shard's
//     digest equals the other replicas'.
//  2. restart from its own snapshots: a node is killed with SIGKILL and started again;
//     it restores each shard from its latest snapshot and replays the log after it.
//     Timed from spawn until /readyz answers (everything committed is applied).
//
// Meanwhile the nodes' worst event-loop delay is sampled from /metrics.
// Every process it starts is stopped by PID.
//
//   npm run build && node tools/bench/recovery.mjs [--keys 1000000] [--value-bytes 100] [--snapshot-entries 50] [--log-file nodes.log]
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { planCluster, startCluster, startMember, stopNode } from "../scripts/local-nodes.mjs";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    "value-bytes": { type: "string", default: "100" },
    "snapshot-entries": { type: "string", default: "50" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "4" },
    "log-file": { type: "string" },
  },
});
const keys = Number(values.keys);
const batch = Number(values.batch);
const value = "v".repeat(Number(values["value-bytes"]));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-recovery-"));
const plan = await planCluster({ count: 3 });
const args = [
  "--snapshot-entries",
  values["snapshot-entries"],
  "--entries-max",
  String(keys * 2),
  "--bytes-max",
  String(Math.max(keys * 2 * (value.length + 200), 256 * 1024 * 1024)),
];
const recoveryLines = [];
const logFile = values["log-file"];
const onLog = (id, line) => {
  if (logFile) appendFileSync(logFile, `${id} ${line}\n`);
  if (/restored|recovered|committed log applied/.test(line)) recoveryLines.push(`${id} ${line}`);
};
const options = { dataRoot, args, logLevel: "info", onLog };
const nodes = new Map((await startCluster(plan, options)).map((n) => [n.nodeId, n]));
// However this process ends (Ctrl-C, a closed pipe, an error), no node outlives it.
process.on("exit", () => {
  for (const node of nodes.values()) {
    try {
      process.kill(node.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(dataRoot, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGPIPE"]) process.on(signal, () => process.exit(130));

async function call(id, method, body) {
  const response = await fetch(`${nodes.get(id).url}/distcache.v1.CacheService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} on ${id}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function metric(id, name, labels = "") {
  const body = await (await fetch(`${nodes.get(id).url}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(" ").pop()) : NaN;
}

/**
 * Resolves once every shard's replicas on `ids` were seen at one applied index with one
 * digest; throws if replicas at the same index differ.
 */
async function replicasMatch(ids) {
  const verified = new Set();
  for (;;) {
    const stats = await Promise.all(ids.map((id) => call(id, "Stats", { includeDigests: true })));
    const byShard = new Map();
    for (const node of stats) for (const s of node.shards) byShard.set(s.shard ?? 0, [...(byShard.get(s.shard ?? 0) ?? []), s]);
    for (const [shard, replicas] of byShard) {
      if (replicas.length < 2 || replicas.some((r) => r.appliedIndex !== replicas[0].appliedIndex)) continue;
      if (replicas.some((r) => r.digest !== replicas[0].digest)) throw new Error(`shard ${shard}: replicas at index ${replicas[0].appliedIndex} differ`);
      verified.add(shard);
    }
    if (verified.size === byShard.size) return;
    await sleep(100);
  }
}

/**
 * Worst event-loop delay a node saw since the previous scrape of its /metrics (prom-client
 * resets the histogram on each). The histogram samples every 10 ms, so an idle loop
 * reports about 10 ms.
 */
const loopMaxMs = async (id) => Math.round((await metric(id, "distcache_process_nodejs_eventloop_lag_max_seconds")) * 1000);

/**
 * Applied index per shard, from Stats without digests (cheap). Not from /metrics: each
 * scrape resets the event-loop delay histogram this tool reports.
 */
async function applied(id) {
  const stats = await call(id, "Stats", {});
  return new Map(stats.shards.map((s) => [s.shard ?? 0, Number(s.appliedIndex ?? 0)]));
}

/** Resolves once `id` applied, in every shard, at least what `others` had applied when called. */
async function caughtUp(id, others) {
  const target = new Map();
  for (const other of others) for (const [shard, index] of await applied(other)) target.set(shard, Math.max(target.get(shard) ?? 0, index));
  for (;;) {
    const mine = await applied(id).catch(() => new Map());
    if (mine.size > 0 && [...mine].every(([shard, index]) => index >= (target.get(shard) ?? 0))) return;
    await sleep(20);
  }
}

try {
  const [a, b, c] = [...nodes.keys()];
  await stopNode(nodes.get(c), "SIGKILL");

  const loadStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(values.concurrency) }, async () => {
      while (next < keys) {
        const start = next;
        next += batch;
        const items = [];
        for (let i = start; i < Math.min(keys, start + batch); i++) items.push({ key: `key-${i}`, text: value });
        // Setting the same values again is harmless, so retry while leaders move off the stopped node.
        for (let attempt = 0; ; attempt++) {
          try {
            await call(a, "MSet", { items });
            break;
          } catch (err) {
            if (attempt > 100) throw err;
            await sleep(100);
          }
        }
      }
    }),
  );
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  console.log(`loaded ${keys} keys of ${value.length} B in ${loadSeconds.toFixed(1)} s (${Math.round(keys / loadSeconds)} keys/s, batches of ${batch})`);
  const deadline = Date.now() + 60_000;
  while ((await metric(a, "distcache_raft_driver", '{counter="snapshotsTaken"}')) < 12 && Date.now() < deadline) await sleep(200);
  await loopMaxMs(a);
  await loopMaxMs(b);

  // 1. A stopped node catches up by snapshot.
  let started = performance.now();
  nodes.set(c, await startMember(plan, c, options));
  await caughtUp(c, [a, b]);
  const catchUpMs = performance.now() - started;
  // Lag first: any scrape of /metrics resets it.
  const loopReceiver = await loopMaxMs(c);
  const loopSender = Math.max(await loopMaxMs(a), await loopMaxMs(b));
  const installed = await metric(c, "distcache_raft_driver", '{counter="snapshotsInstalled"}');
  console.log(`catch-up by snapshot: ${(catchUpMs / 1000).toFixed(2)} s until every shard applied what its leader had (${installed} snapshots installed)`);
  console.log(`  worst event-loop delay meanwhile: receiver ${loopReceiver} ms, senders ${loopSender} ms`);
  await replicasMatch([a, b, c]);
  console.log("  replica digests match on every shard");

  // 2. A killed node restarts from its own snapshots.
  await stopNode(nodes.get(a), "SIGKILL");
  started = performance.now();
  recoveryLines.length = 0;
  nodes.set(a, await startMember(plan, a, options));
  const listeningMs = performance.now() - started;
  for (;;) {
    const ready = await fetch(`${nodes.get(a).url}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) break;
    await sleep(10);
  }
  const readyMs = performance.now() - started;
  const loopRestarted = await loopMaxMs(a);
  await caughtUp(a, [b, c]);
  const caughtUpMs = performance.now() - started;
  console.log(
    `restart after SIGKILL: listening ${Math.round(listeningMs)} ms, ready (committed log applied) ${Math.round(readyMs)} ms, ` +
      `caught up with the leaders ${Math.round(caughtUpMs)} ms`,
  );
  console.log(`  worst event-loop delay from start to ready: ${loopRestarted} ms`);
  for (const line of recoveryLines) {
    const { msg: message, ...fields } = JSON.parse(line.slice(line.indexOf(" ") + 1));
    for (const noise of ["level", "time", "node"]) delete fields[noise];
    console.log(`  ${message}: ${JSON.stringify(fields)}`);
  }
  await replicasMatch([a, b, c]);
  console.log("  replica digests match on every shard");
} finally {
  // SIGTERM lets a node flush profiles (DISTCACHE_NODE_FLAGS=--cpu-prof); stopNode falls back to SIGKILL.
  await Promise.all([...nodes.values()].map((node) => stopNode(node, "SIGTERM")));
  rmSync(dataRoot, { recursive: true, force: true });
}
