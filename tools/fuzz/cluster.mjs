// The cluster under test: a fresh local one (tools/scripts/local-nodes.mjs, free ports,
// its own data directory, every process stopped by PID), or a running one named by
// --endpoints. Also: node RSS from /proc, node exits, waiting for shard leaders.
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "@distcache/proto";
import { planCluster, startCluster, stopNode } from "../scripts/local-nodes.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a process in bytes, or undefined when it is gone. */
export function rssBytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function topologyClient(url) {
  return createClient(ClusterService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
}

/**
 * A small detached process that SIGKILLs the given PIDs if this process dies without
 * stopping them (a native abort skips every exit handler). Returns its stop function.
 */
function startWatchdog(pids) {
  const script = `
    const [parent, ...pids] = process.argv.slice(1).map(Number);
    setInterval(() => {
      try { process.kill(parent, 0); } catch {
        for (const pid of pids) { try { process.kill(pid, "SIGKILL"); } catch {} }
        process.exit(0);
      }
    }, 500);`;
  const child = spawn(process.execPath, ["-e", script, String(process.pid), ...pids.map(String)], { detached: true, stdio: "ignore" });
  child.unref();
  return () => {
    try {
      process.kill(child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  };
}

/** Waits until `url` knows a leader for every shard; returns the topology. */
export async function waitForLeaders(url, timeoutMs) {
  const client = topologyClient(url);
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const { topology } = await client.getTopology({}, { timeoutMs: 2000 });
      const missing = topology.shards.filter((s) => !s.leaderId).map((s) => s.id);
      if (missing.length === 0 && topology.shards.length > 0) return topology;
      last = `shards without a leader: ${missing.join(", ")}`;
    } catch (err) {
      last = String(err.message ?? err);
    }
    await sleep(200);
  }
  throw new Error(`no leader for every shard within ${timeoutMs} ms (${last})`);
}

function splitHostPort(address) {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}

/**
 * Starts a fresh 3-node cluster. Node logs go to <dataRoot>/<id>.log; exits are recorded.
 * @returns {Promise<Cluster>}
 */
export async function startOwnCluster({ count = 3, args = [] } = {}) {
  const dataRoot = mkdtempSync(join(tmpdir(), "distcache-fuzz-"));
  const plan = await planCluster({ count });
  const logs = new Map(plan.members.map((m) => [m.id, createWriteStream(join(dataRoot, `${m.id}.log`))]));
  let started;
  try {
    started = await startCluster(plan, { dataRoot, logLevel: "warn", args, onLog: (id, line) => logs.get(id)?.write(`${line}\n`) });
  } catch (err) {
    for (const s of logs.values()) s.end();
    rmSync(dataRoot, { recursive: true, force: true });
    throw err;
  }
  const stopWatchdog = startWatchdog(started.map((n) => n.pid));
  const exits = [];
  let stopping = false;
  const nodes = started.map((n) => {
    const member = plan.members.find((m) => m.id === n.nodeId);
    const { host, port } = splitHostPort(n.address);
    const node = { id: n.nodeId, url: n.url, host, port, peerHost: "127.0.0.1", peerPort: member.peerPort, pid: n.pid, alive: true };
    n.child.on("exit", (code, signal) => {
      node.alive = false;
      if (!stopping)
        exits.push({
          id: n.nodeId,
          pid: n.pid,
          code,
          signal,
          at: new Date().toISOString(),
          stderr: n.stderr.join("").slice(-4000),
          logFile: join(dataRoot, `${n.nodeId}.log`),
        });
    });
    return node;
  });
  return {
    own: true,
    nodes,
    secret: plan.secret,
    dataRoot,
    exits,
    /** Stops every node it started, by PID; removes the data unless keepData. */
    async stop(keepData) {
      stopping = true;
      await Promise.all(started.map((n) => stopNode(n, "SIGTERM", 10_000)));
      stopWatchdog();
      for (const s of logs.values()) s.end();
      if (!keepData) rmSync(dataRoot, { recursive: true, force: true });
    },
    async checkAlive() {},
  };
}

/**
 * A running cluster: node ids and peer addresses come from its topology; PIDs (for RSS
 * and exits) from --pids, in the order of --endpoints, when given.
 * @returns {Promise<Cluster>}
 */
export async function attachCluster({ endpoints, secretFile, pids }) {
  const topology = await waitForLeaders(endpoints[0], 30_000);
  const exits = [];
  const nodes = endpoints.map((url, i) => {
    const u = new URL(url);
    const member = topology.nodes.find((m) => m.clientAddress === u.host) ?? topology.nodes[i];
    if (!member) throw new Error(`cannot tell which member serves ${url}`);
    const peer = splitHostPort(member.peerAddress);
    return {
      id: member.id,
      url: url.replace(/\/$/, ""),
      host: u.hostname,
      port: Number(u.port),
      peerHost: peer.host,
      peerPort: peer.port,
      pid: pids?.[i],
      alive: true,
    };
  });
  return {
    own: false,
    nodes,
    secret: secretFile ? readFileSync(secretFile, "utf8").trim() : undefined,
    dataRoot: undefined,
    exits,
    async stop() {},
    /** Without child processes to watch, a node counts as exited when its PID is gone or /healthz fails three times running. */
    async checkAlive() {
      for (const node of nodes) {
        if (!node.alive) continue;
        const gone = node.pid !== undefined && rssBytes(node.pid) === undefined;
        let healthy = false;
        if (!gone) {
          try {
            healthy = (await fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(3000) })).ok;
          } catch {
            healthy = false;
          }
        }
        node.failedProbes = healthy ? 0 : (node.failedProbes ?? 0) + 1;
        if (gone || node.failedProbes >= 3) {
          node.alive = false;
          exits.push({
            id: node.id,
            pid: node.pid,
            code: null,
            signal: null,
            at: new Date().toISOString(),
            stderr: gone ? "(not started by the fuzzer: its PID is gone)" : "(not started by the fuzzer: /healthz stopped answering)",
          });
        }
      }
    },
  };
}

/**
 * @typedef {{
 *   own: boolean, nodes: { id: string, url: string, host: string, port: number, peerHost: string, peerPort: number, pid?: number, alive: boolean }[],
 *   secret?: string, dataRoot?: string, exits: object[], stop(keepData?: boolean): Promise<void>, checkAlive(): Promise<void>
 * }} Cluster
 */

/**
 * The data dir incarnation of each node whose data dir is under `dataRoot` (a cluster this
 * fuzzer started), so its peer-port cases can answer as a member; {} otherwise.
 */
export function memberIncarnations(dataRoot, nodes) {
  if (!dataRoot) return {};
  const out = {};
  for (const { id } of nodes) {
    try {
      out[id] = JSON.parse(readFileSync(join(dataRoot, id, "identity.json"), "utf8")).incarnation;
    } catch {
      // not started here, or not bootstrapped yet
    }
  }
  return out;
}
