// Throughput of a local 3-node distcache cluster under a simple load, and of etcd (3
// members, JSON gateway) and Redis under the same generator where they are installed.
// Each configuration is measured `--repeat` times; the median run is reported.
//
//   npm run build && node tools/bench/cluster-bench.mjs [--seconds 10] [--repeat 3] [--concurrency 64] [--peers]
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePorts, planCluster, startCluster, stopNode } from "../scripts/local-nodes.mjs";
import { runLoad } from "./load/run.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    repeat: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    workers: { type: "string", default: "2" },
    peers: { type: "boolean", default: false },
  },
});
const common = {
  workers: Number(values.workers),
  concurrency: Number(values.concurrency),
  seconds: Number(values.seconds),
  warmupSeconds: 1,
  keys: 10000,
  valueBytes: 100,
};
const repeat = Number(values.repeat);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function median(label, options) {
  const runs = [];
  for (let i = 0; i < repeat; i++) runs.push(await runLoad({ ...common, ...options }));
  runs.sort((a, b) => a.opsPerSecond - b.opsPerSecond);
  const m = runs[Math.floor(runs.length / 2)];
  console.log(JSON.stringify({ system: label, ...m, runs: runs.map((r) => r.opsPerSecond) }));
  return m;
}

/** Sum of the nodes' write-ahead log fsyncs, from their metrics. */
async function fsyncs(nodes) {
  let total = 0;
  for (const n of nodes) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith('distcache_raft_driver{counter="syncs"}'));
    total += Number(line?.split(" ").at(-1) ?? 0);
  }
  return total;
}

async function distcache() {
  const dataRoot = mkdtempSync(join(tmpdir(), "distcache-bench-"));
  const nodes = await startCluster(await planCluster({ count: 3 }), { dataRoot, logLevel: "warn" });
  try {
    await sleep(1500);
    const targets = nodes.map((n) => n.url);
    const syncsBefore = await fsyncs(nodes);
    const set = await median("distcache Set (any node)", { targets, op: "set" });
    const writes = set.opsPerSecond * common.seconds * repeat;
    console.log(
      JSON.stringify({
        system: "distcache",
        fsyncsPerWritePerNode: ((await fsyncs(nodes)) - syncsBefore) / nodes.length / writes,
        note: "approximate: counts all runs' fsyncs against median ops",
      }),
    );
    return {
      set,
      get: await median("distcache Get STRONG (any node)", { targets, op: "get" }),
      eventual: await median("distcache Get EVENTUAL (any node)", { targets, op: "get-eventual" }),
    };
  } finally {
    await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

async function etcd() {
  if (!existsSync("/usr/bin/etcd")) return console.log("etcd not installed; skipped");
  const dataRoot = mkdtempSync(join(tmpdir(), "etcd-bench-"));
  const ports = await freePorts(6);
  const names = ["e1", "e2", "e3"];
  const peerUrl = (i) => `http://127.0.0.1:${ports[3 + i]}`;
  const cluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(",");
  const procs = names.map((name, i) =>
    spawn(
      "/usr/bin/etcd",
      [
        "--name",
        name,
        "--data-dir",
        join(dataRoot, name),
        "--listen-client-urls",
        `http://127.0.0.1:${ports[i]}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${ports[i]}`,
        "--listen-peer-urls",
        peerUrl(i),
        "--initial-advertise-peer-urls",
        peerUrl(i),
        "--initial-cluster",
        cluster,
        "--initial-cluster-state",
        "new",
        "--log-level",
        "error",
      ],
      { stdio: "ignore" },
    ),
  );
  try {
    await sleep(3000);
    const targets = ports.slice(0, 3).map((p) => `http://127.0.0.1:${p}`);
    return {
      set: await median("etcd put (JSON gateway, 3 members)", { targets, op: "etcd-put" }),
      get: await median("etcd range linearizable (JSON gateway)", { targets, op: "etcd-get" }),
    };
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await sleep(200);
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

function redis() {
  if (!existsSync("/usr/bin/redis-server")) return console.log("redis not installed; skipped");
  const [port] = [6400 + Math.floor(Math.random() * 500)];
  const server = spawn("/usr/bin/redis-server", ["--port", String(port), "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", tmpdir()], {
    stdio: "ignore",
  });
  try {
    execFileSync("sleep", ["1"]);
    const out = execFileSync(
      "redis-benchmark",
      ["-p", String(port), "-c", values.concurrency, "-n", "200000", "-t", "set,get", "-d", "100", "-r", "10000", "--csv"],
      { encoding: "utf8" },
    );
    console.log(JSON.stringify({ system: "redis (appendfsync always, single node)", csv: out.trim() }));
  } finally {
    server.kill("SIGKILL");
  }
}

await distcache();
if (values.peers) {
  await etcd();
  redis();
}
