// etcd from Debian's etcd-server package: a 3-member cluster on loopback with fresh data
// dirs. etcd syncs its WAL before it acknowledges (the default), so writes are durable
// on a majority like distcache's. Reached over gRPC, at its leader (its best case).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "../../../scripts/local-nodes.mjs";
import { metricSum } from "./metrics-text.mjs";
import { binary, spawnServer, stopServer, waitUntil } from "./processes.mjs";

const ETCD = "/usr/bin/etcd";

export const etcd = {
  name: "etcd",
  label: "etcd (3 members)",
  missing: () => (binary(ETCD) ? undefined : `${ETCD} not found: apt-get install etcd-server`),
  async start() {
    const dataRoot = mkdtempSync(join(tmpdir(), "etcd-bench-"));
    const ports = await freePorts(6);
    const names = ["e1", "e2", "e3"];
    const client = (i) => `http://127.0.0.1:${ports[i]}`;
    const peer = (i) => `http://127.0.0.1:${ports[3 + i]}`;
    const cluster = names.map((n, i) => `${n}=${peer(i)}`).join(",");
    const argsOf = (name, i) => [
      ...["--name", name, "--data-dir", join(dataRoot, name)],
      ...["--listen-client-urls", client(i), "--advertise-client-urls", client(i)],
      ...["--listen-peer-urls", peer(i), "--initial-advertise-peer-urls", peer(i)],
      ...["--initial-cluster", cluster, "--initial-cluster-state", "new", "--log-level", "error"],
    ];
    const servers = names.map((name, i) => spawnServer(ETCD, argsOf(name, i)));
    const urls = names.map((_, i) => client(i));
    const stop = async () => {
      await Promise.all(servers.map(stopServer));
      rmSync(dataRoot, { recursive: true, force: true });
    };
    try {
      await waitUntil(
        async () => (await Promise.all(urls.map((u) => fetch(`${u}/health`).then((r) => r.json())))).every((h) => h.health === "true"),
        20_000,
        "etcd",
        servers,
      );
    } catch (err) {
      await stop();
      throw err;
    }
    const leader = async () => {
      for (const url of urls) if ((await metricSum(`${url}/metrics`, "etcd_server_is_leader")) === 1) return url;
      return urls[0];
    };
    return {
      version: execFileSync(ETCD, ["--version"], { encoding: "utf8" }).split("\n")[0].replace("etcd Version: ", ""),
      pids: () => servers.map((s) => s.pid),
      driver: async () => ({ kind: "etcd-grpc", endpoints: [await leader()] }),
      // The JSON gateway for wrk, on the leader.
      jsonUrl: leader,
      async counters() {
        let fsyncs = 0;
        let elections = 0;
        for (const url of urls) {
          fsyncs += await metricSum(`${url}/metrics`, "etcd_disk_wal_fsync_duration_seconds_count");
          elections = Math.max(elections, await metricSum(`${url}/metrics`, "etcd_server_leader_changes_seen_total"));
        }
        return { fsyncs, elections };
      },
      urls: () => [...urls],
      leader,
      /** Kills the member at `url` with SIGKILL; resolves, once it is gone, with the time the signal was sent. */
      async kill(url) {
        const i = urls.indexOf(url);
        if (i < 0) throw new Error(`no etcd member at ${url}`);
        const at = performance.now();
        servers[i].child.kill("SIGKILL");
        await stopServer(servers[i]);
        return at;
      },
      /** Starts the member at `url` again on its data dir; resolves once its /health is true. */
      async restart(url) {
        const i = urls.indexOf(url);
        if (i < 0) throw new Error(`no etcd member at ${url}`);
        servers[i] = spawnServer(ETCD, argsOf(names[i], i));
        await waitUntil(async () => (await fetch(`${url}/health`).then((r) => r.json())).health === "true", 30_000, `etcd member ${names[i]}`, [servers[i]]);
      },
      stop,
    };
  },
};
