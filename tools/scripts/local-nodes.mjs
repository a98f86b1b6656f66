// Starts and stops cache-node processes on 127.0.0.1 for `npm start` and for tests.
// Every process is tracked by PID and stopped by PID.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const NODE_MAIN = fileURLToPath(new URL("../../apps/cache-node/dist/main.js", import.meta.url));

/**
 * glibc malloc settings for a node (README, "Memory"): with glibc's defaults the request
 * buffers a node frees under load stay in its RSS, fragmented (a 100,000-request fuzz run
 * left +75 to +111 MiB per node with the JS heap and its buffers back to their warm-up
 * size; with these, +46 to +62 MiB). Two arenas instead of eight per core, buffers of
 * 128 KiB and more always in their own mapping (returned when freed), and the top of the
 * heap trimmed from 128 KiB. Values already in the environment win.
 */
export const MALLOC_DEFAULTS = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072" };

/** The environment a node is started with: `base` plus MALLOC_DEFAULTS where unset. */
export function nodeEnvironment(base) {
  return { ...MALLOC_DEFAULTS, ...base };
}

const WARNINGS_KEPT = 2000;

/**
 * Spawns one node and resolves once it prints its listening line. onSpawn, if given,
 * hears of the process as soon as it exists (to track its PID before it listens).
 * nodeMain runs another build (default: this tree's); nodeFlags go to its Node (before
 * the script, after any DISTCACHE_NODE_FLAGS).
 * @param {{
 *   nodeId: string, port?: number, dataDir: string, args?: string[], logLevel?: string, onLog?: (line: string) => void, startTimeoutMs?: number,
 *   onSpawn?: (child: import("node:child_process").ChildProcess) => void, nodeMain?: string, nodeFlags?: string[]
 * }} options
 */
export function startNode(options) {
  mkdirSync(options.dataDir, { recursive: true });
  const args = [
    ...(process.env.DISTCACHE_NODE_FLAGS ? process.env.DISTCACHE_NODE_FLAGS.split(" ") : []),
    ...(options.nodeFlags ?? []),
    options.nodeMain ?? NODE_MAIN,
    "--node-id",
    options.nodeId,
    "--port",
    String(options.port ?? 0),
    "--data-dir",
    options.dataDir,
    "--log-level",
    options.logLevel ?? "warn",
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: nodeEnvironment(process.env) });
  options.onSpawn?.(child);
  const stderr = [];
  child.stderr.on("data", (d) => stderr.push(String(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node ${options.nodeId} did not start within ${options.startTimeoutMs ?? 20000} ms: ${stderr.join("")}`));
    }, options.startTimeoutMs ?? 20000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node ${options.nodeId} exited during start (code ${code}, signal ${signal}): ${stderr.join("")}`));
    });
    const lines = createInterface({ input: child.stdout });
    // Its warnings and errors, the latest WARNINGS_KEPT, for tests to read.
    const warnings = [];
    lines.on("line", (line) => {
      options.onLog?.(line);
      if (/"level":(40|50|60)/.test(line) && warnings.push(line) > WARNINGS_KEPT) warnings.shift();
      if (!line.includes('"listening"')) return;
      try {
        const parsed = JSON.parse(line);
        if (parsed.msg !== "listening") return;
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ nodeId: options.nodeId, pid: child.pid, address: parsed.address, url: `http://${parsed.address}`, child, stderr, warnings });
      } catch {
        // an ordinary log line
      }
    });
  });
}

/** Sends signal to the node's PID and waits for it to exit (SIGKILL after timeoutMs). */
export function stopNode(node, signal = "SIGTERM", timeoutMs = 10000) {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return resolve(node.child.exitCode);
    const timer = setTimeout(() => {
      try {
        process.kill(node.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    node.child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    try {
      process.kill(node.pid, signal);
    } catch {
      clearTimeout(timer);
      resolve(null);
    }
  });
}

/**
 * The ports freePorts draws from: below the kernel's ephemeral range, so that a node's
 * port, free while the node is down for a restart, cannot be taken meanwhile as the
 * local port of some outbound connection (its restart would then fail with EADDRINUSE).
 */
function portPool() {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: keep the common default.
  }
  const top = Math.min(low, 32768);
  return { from: Math.max(1024, top - 12000), to: top };
}

/** Ports this process handed out already, so two plans never share one. */
const handedOut = new Set();

async function bindOnce(port) {
  const server = net.createServer();
  const ok = await new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (ok) await new Promise((r) => server.close(r));
  return ok;
}

/** Finds `count` free TCP ports on 127.0.0.1 below the ephemeral range (each bound once, then released). */
export async function freePorts(count) {
  const { from, to } = portPool();
  const ports = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 20_000) throw new Error(`no free ports in ${from}-${to - 1}`);
    const port = from + Math.floor(Math.random() * (to - from));
    if (handedOut.has(port) || !(await bindOnce(port))) continue;
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

/**
 * Describes a local cluster of `count` nodes: ids n1..nN, client and peer ports (given
 * or free ones), the --initial-cluster string and a random peer secret.
 * @param {{ count: number, clientPorts?: number[], peerPorts?: number[], secret?: string }} options
 */
export async function planCluster(options) {
  const ids = Array.from({ length: options.count }, (_, i) => `n${i + 1}`);
  const ports = options.clientPorts && options.peerPorts ? [...options.clientPorts, ...options.peerPorts] : await freePorts(options.count * 2);
  const members = ids.map((id, i) => ({
    id,
    clientPort: ports[i],
    peerPort: ports[options.count + i],
  }));
  const initialCluster = members.map((m) => `${m.id}=127.0.0.1:${m.clientPort}/127.0.0.1:${m.peerPort}`).join(",");
  return { members, initialCluster, secret: options.secret ?? randomBytes(24).toString("hex") };
}

/**
 * Starts every node of a planned cluster (in parallel) with data under dataRoot/<id>.
 * @param {Awaited<ReturnType<typeof planCluster>>} plan
 * @param {{ dataRoot: string, args?: string[], logLevel?: string, onLog?: (id: string, line: string) => void, nodeMain?: string }} options
 */
export async function startCluster(plan, options) {
  const started = await Promise.allSettled(plan.members.map((m) => startMember(plan, m.id, options)));
  const nodes = started.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
    throw failed.reason;
  }
  return nodes;
}

/** Starts (or restarts) one member of a planned cluster. */
export function startMember(plan, id, options) {
  return startNode({
    nodeId: id,
    dataDir: join(options.dataRoot, id),
    logLevel: options.logLevel,
    onLog: options.onLog && ((line) => options.onLog(id, line)),
    port: plan.members.find((m) => m.id === id).clientPort,
    startTimeoutMs: options.startTimeoutMs,
    nodeMain: options.nodeMain,
    nodeFlags: options.nodeFlags,
    args: ["--initial-cluster", plan.initialCluster, "--peer-secret", plan.secret, ...(options.args ?? [])],
  });
}
