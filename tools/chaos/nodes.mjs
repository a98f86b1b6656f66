// The cluster under test: 3 or 5 cache-node processes on 127.0.0.1 (started with
// tools/scripts/local-nodes.mjs), every peer link through a PeerLinkProxy (one per
// ordered pair, named to each node with --peer-dial), and optionally every client port
// behind a ClientProxy. Processes are tracked and stopped by PID; a detached watchdog
// SIGKILLs them if the harness itself dies without stopping them.
import { spawn } from "node:child_process";
import { createWriteStream, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, ClusterService } from "@distcache/proto";
import { planCluster, startNode, stopNode } from "../scripts/local-nodes.mjs";
import { ClientProxy } from "./client-proxy.mjs";
import { PeerLinkProxy } from "./peer-proxy.mjs";
import { readProcStat } from "./proc-stats.mjs";

/**
 * @typedef {object} Member
 * @property {string} id
 * @property {number} clientPort
 * @property {number} peerPort
 * @property {string} url        the node's own client URL (the harness's control calls use it)
 * @property {"starting" | "up" | "paused" | "down"} state
 * @property {any} [proc]        the running process, from startNode
 * @property {boolean} expectExit
 * @property {{ pid: number, startedMs: number, endedMs?: number, cpuSeconds: number }[]} incarnations
 * @property {{ t: number, rss: number, pid: number }[]} rss
 * @property {ClientProxy} [clientProxy]
 * @property {ClientProxy[]} forwardProxies  the proxies other nodes forward calls to this node through
 * @property {Map<string, ClockLayer>} clock  the clock faults on this node, by layer
 */

/**
 * One clock fault (see apps/cache-node/src/testing-control.ts): steps add up, rates
 * multiply, and the latest strobe wins.
 * @typedef {{ stepMs?: number, rate?: number, strobe?: { amplitudeMs: number, periodMs: number } }} ClockLayer
 */

export class ChaosCluster {
  /**
   * @param {{ count: number, dataRoot: string, args: string[], argsFor: Map<string, string[]>, proxyClients: boolean, linkFaults?: "proxy" | "node",
   *           logLevel: string,
   *           randomFor: (name: string) => () => number, now: () => number }} options
   *   randomFor gives each proxy its own draws from the seed, so one link's traffic never shifts another's
   */
  constructor(options) {
    this.options = options;
    /** @type {Map<string, Member>} */
    this.members = new Map();
    /** @type {Map<string, PeerLinkProxy>} */
    this.links = new Map();
    /** Per ordered pair "a->b", the proxy a forwards calls to b through (--client-dial). @type {Map<string, ClientProxy>} */
    this.forwards = new Map();
    /** Exits the nemesis did not cause. */
    this.exits = [];
    /** Restarts that failed. */
    this.startFailures = [];
    /** What each power loss did (the node's CrashReport), and the ones that did not happen as a power loss. */
    this.crashes = [];
    this.crashFailures = [];
    this.logs = new Map();
    this.pidFile = join(options.dataRoot, "pids");
    this.stopping = false;
    this.watchdog = undefined;
    this.control = new Map();
    /** Watchers of node log lines (waitForLog). @type {Set<(id: string, line: string) => void>} */
    this.logWatchers = new Set();
  }

  get ids() {
    return [...this.members.keys()];
  }

  /** Plans ports, opens every proxy, starts every node. */
  async start() {
    const { count, dataRoot } = this.options;
    const plan = await planCluster({ count });
    this.plan = plan;
    for (const m of plan.members) {
      const url = `http://127.0.0.1:${m.clientPort}`;
      this.members.set(m.id, {
        id: m.id,
        clientPort: m.clientPort,
        peerPort: m.peerPort,
        url,
        state: "down",
        expectExit: false,
        incarnations: [],
        rss: [],
        forwardProxies: [],
        clock: new Map(),
      });
      this.logs.set(m.id, createWriteStream(join(dataRoot, `${m.id}.log`), { flags: "a" }));
      const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${m.clientPort}`, httpVersion: "1.1" });
      this.control.set(m.id, { cache: createClient(CacheService, transport), cluster: createClient(ClusterService, transport) });
    }
    // The nodes' planned ports are free until the nodes start: no proxy may take one.
    const reserved = new Set(plan.members.flatMap((m) => [m.clientPort, m.peerPort]));
    for (const a of plan.members) {
      for (const b of plan.members) {
        if (a.id === b.id) continue;
        const actsOnPolicy = this.options.linkFaults !== "node";
        const link = new PeerLinkProxy({
          from: a.id,
          to: b.id,
          upstream: { host: "127.0.0.1", port: b.peerPort },
          random: this.options.randomFor(`link ${a.id}->${b.id}`),
          actsOnPolicy,
        });
        // Calls a forwards to b go through a proxy of their own, which takes the link's cut and delay,
        // so a partition of the peer link cuts forwarding too.
        const forward = new ClientProxy({
          nodeId: b.id,
          upstream: { host: "127.0.0.1", port: b.clientPort },
          random: this.options.randomFor(`forward ${a.id}->${b.id}`),
        });
        await listenAvoiding(forward, reserved);
        this.forwards.set(link.name, forward);
        this.members.get(b.id).forwardProxies.push(forward);
        link.policy.onChange = () => {
          const { cut, delayMs, jitterMs } = link.policy.effective;
          forward.policy.clear();
          if (cut || delayMs > 0) forward.policy.add("peer-link", { cut, delayMs, jitterMs });
          if (!actsOnPolicy) this.writeControlFile(a.id);
        };
        await listenAvoiding(link, reserved);
        this.links.set(link.name, link);
      }
      if (this.options.proxyClients) {
        const proxy = new ClientProxy({ nodeId: a.id, upstream: { host: "127.0.0.1", port: a.clientPort }, random: this.options.randomFor(`client ${a.id}`) });
        await listenAvoiding(proxy, reserved);
        this.members.get(a.id).clientProxy = proxy;
      }
    }
    this.watchdog = startWatchdog(this.pidFile);
    const started = await Promise.allSettled(this.ids.map((id) => this.startMember(id)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** The URL clients use for a node: its proxy when client traffic is proxied. */
  clientUrl(id) {
    const m = this.members.get(id);
    return m.clientProxy ? m.clientProxy.url : m.url;
  }

  /** For the SDK's addressMap: advertised host:port → dialable host:port (empty without client proxies). */
  addressMap() {
    const map = {};
    for (const m of this.members.values()) if (m.clientProxy) map[`127.0.0.1:${m.clientPort}`] = `127.0.0.1:${m.clientProxy.port}`;
    return map;
  }

  link(from, to) {
    return this.links.get(`${from}->${to}`);
  }

  /**
   * Waits until each of the links [from, to] has passed a frame within the last freshMs
   * (a node reconnects to a peer it lost only after a backoff and a handshake); false on timeout.
   */
  async waitForLinks(pairs, timeoutMs, freshMs = 300) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const now = performance.now();
      if (pairs.every(([from, to]) => now - (this.link(from, to)?.lastFrameAtMs ?? now) <= freshMs)) return true;
      if (now >= deadline) return false;
      await sleep(50);
    }
  }

  argsFor(id) {
    const others = this.ids.filter((p) => p !== id);
    const dial = others.map((p) => `${p}=127.0.0.1:${this.link(id, p).port}`).join(",");
    const own = this.options.argsFor.get(id) ?? [];
    const args = ["--initial-cluster", this.plan.initialCluster, "--peer-secret", this.plan.secret, "--peer-dial", dial];
    args.push("--client-dial", others.map((p) => `${p}=127.0.0.1:${this.forwards.get(`${id}->${p}`).port}`).join(","));
    // Every node takes the control file (its clock faults, and its link faults with --link-faults node).
    this.writeControlFile(id);
    args.push("--testing", "--testing-control", this.controlFile(id), "--testing-storage", "lossy");
    return [...args, ...this.options.args, ...own];
  }

  /** The control file of node `id` (apps/cache-node/src/testing-control.ts). */
  controlFile(id) {
    return join(this.options.dataRoot, `${id}.control.json`);
  }

  /**
   * Writes node `id`'s control file, atomically: its clock faults, and with
   * --link-faults node the policies of every link out of it, for its peer fault hook
   * (resets have no node-side counterpart: the hook drops and delays frames only).
   */
  writeControlFile(id) {
    this.faultSeeds ??= new Map();
    if (!this.faultSeeds.has(id)) this.faultSeeds.set(id, Math.floor(this.options.randomFor(`control ${id}`)() * 2 ** 31));
    this.controlSerial = (this.controlSerial ?? 0) + 1;
    const document = { serial: this.controlSerial, seed: this.faultSeeds.get(id) };
    if (this.options.linkFaults === "node") {
      const links = {};
      for (const to of this.ids) {
        if (to === id) continue;
        const { cut, drop, delayMs, jitterMs } = this.link(id, to).policy.effective;
        if (cut || drop > 0 || delayMs > 0 || jitterMs > 0) links[to] = { cut, drop, delayMs, jitterMs };
      }
      document.links = links;
    }
    const layers = [...this.members.get(id).clock.values()];
    if (layers.length > 0) {
      document.clock = {
        stepMs: layers.reduce((sum, l) => sum + (l.stepMs ?? 0), 0),
        rate: layers.reduce((product, l) => product * (l.rate ?? 1), 1),
        strobe: layers.findLast((l) => l.strobe !== undefined)?.strobe,
      };
    }
    const file = this.controlFile(id);
    writeFileSync(`${file}.next`, JSON.stringify(document));
    renameSync(`${file}.next`, file);
  }

  /** Adds (or, with spec undefined, removes) a clock fault on node `id`. */
  setClock(id, layer, spec) {
    const m = this.members.get(id);
    if (spec === undefined) m.clock.delete(layer);
    else m.clock.set(layer, spec);
    this.writeControlFile(id);
  }

  /** Starts (or restarts) one node; resolves once it listens. */
  async startMember(id) {
    const m = this.members.get(id);
    // A node starts with its clock healed: one whose wall clock is ahead when it restarts
    // would take that clock as the time of its shards (a documented limitation).
    m.clock.clear();
    m.state = "starting";
    m.expectExit = false;
    const log = this.logs.get(id);
    log.write(`--- harness: starting ${id} at +${(this.options.now() / 1000).toFixed(1)} s\n`);
    let proc;
    try {
      proc = await startNode({
        nodeId: id,
        port: m.clientPort,
        dataDir: join(this.options.dataRoot, id),
        logLevel: this.options.logLevel,
        args: this.argsFor(id),
        onLog: (line) => {
          log.write(`${line}\n`);
          for (const watch of this.logWatchers) watch(id, line);
        },
        startTimeoutMs: 30_000,
      });
    } catch (err) {
      m.state = "down";
      this.startFailures.push({ id, atMs: this.options.now(), error: String(err.message ?? err).slice(0, 4000) });
      throw err;
    }
    m.proc = proc;
    m.state = "up";
    const incarnation = { pid: proc.pid, startedMs: this.options.now(), cpuSeconds: 0 };
    m.incarnations.push(incarnation);
    proc.child.on("exit", (code, signal) => {
      incarnation.endedMs = this.options.now();
      if (m.proc === proc) {
        m.state = "down";
        m.proc = undefined;
      }
      log.write(`--- harness: ${id} (pid ${proc.pid}) exited: code ${code}, signal ${signal}\n`);
      if (!m.expectExit && !this.stopping) {
        const stderr = proc.stderr.join("").slice(-4000);
        this.exits.push({ id, pid: proc.pid, code, signal, atMs: this.options.now(), stderr, log: join(this.options.dataRoot, `${id}.log`) });
      }
    });
    this.writePids();
    await m.clientProxy?.listen();
    await Promise.all(m.forwardProxies.map((f) => f.listen()));
    return proc;
  }

  /**
   * kill -9, or with lossy, a power loss: SIGUSR2 makes the node (under --testing-storage
   * lossy) cut its files to what it synced and SIGKILL itself. Resolves once it is gone.
   */
  async kill(id, { lossy = false } = {}) {
    const m = this.members.get(id);
    if (!m.proc) return false;
    m.expectExit = true;
    const proc = m.proc;
    await m.clientProxy?.unlisten();
    await Promise.all(m.forwardProxies.map((f) => f.unlisten()));
    this.sampleCpu(m);
    await stopNode(proc, lossy ? "SIGUSR2" : "SIGKILL", 5000);
    m.state = "down";
    if (lossy) {
      // Its last stderr line may still be in the pipe when the exit is seen.
      if (proc.child.stderr && !proc.child.stderr.closed) await Promise.race([new Promise((r) => proc.child.once("close", r)), sleep(1000)]);
      this.recordCrash(id, proc);
    }
    this.writePids();
    return true;
  }

  /** A power loss must end in SIGKILL after the node's "lossy crash" line; anything else is a failure of the run. */
  recordCrash(id, proc) {
    const line = proc.stderr
      .join("")
      .split("\n")
      .findLast((l) => l.startsWith("cache-node: lossy crash (test-only): "));
    const report = line === undefined ? undefined : JSON.parse(line.slice(line.indexOf("{")));
    if (proc.child.signalCode !== "SIGKILL" || report === undefined) {
      const detail = `exit code ${proc.child.exitCode}, signal ${proc.child.signalCode}, ${report ? "with" : "without"} its crash report`;
      this.crashFailures.push({ id, atMs: this.options.now(), detail, stderr: proc.stderr.join("").slice(-2000) });
      return;
    }
    this.crashes.push({ id, atMs: this.options.now(), ...report });
  }

  pause(id) {
    const m = this.members.get(id);
    if (!m.proc || m.state !== "up") return false;
    this.sampleCpu(m);
    process.kill(m.proc.pid, "SIGSTOP");
    m.state = "paused";
    return true;
  }

  resume(id) {
    const m = this.members.get(id);
    if (!m.proc || m.state !== "paused") return false;
    process.kill(m.proc.pid, "SIGCONT");
    m.state = "up";
    return true;
  }

  /** Reads CPU time of the current incarnation (before it is killed, and at each sample). */
  sampleCpu(m) {
    const inc = m.incarnations.at(-1);
    if (!m.proc || !inc) return undefined;
    const s = readProcStat(m.proc.pid);
    if (s) inc.cpuSeconds = s.cpuSeconds;
    return s;
  }

  /** One RSS and CPU sample of every running node. */
  sample() {
    const t = this.options.now();
    for (const m of this.members.values()) {
      if (!m.proc || m.state === "down") continue;
      const s = this.sampleCpu(m);
      if (s) m.rss.push({ t, rss: s.rssBytes, pid: m.proc.pid });
    }
  }

  /**
   * Each shard's leader as the running nodes report it (the highest term wins).
   * @returns {Promise<{ shardCount: number, shards: Map<number, { leaderId: string, term: bigint, replicas: string[] }> }>}
   */
  async leaders(timeoutMs = 800) {
    const shards = new Map();
    let shardCount = 0;
    await Promise.all(
      [...this.members.values()]
        .filter((m) => m.state === "up")
        .map(async (m) => {
          try {
            const { topology } = await this.control.get(m.id).cluster.getTopology({}, { timeoutMs });
            shardCount = Math.max(shardCount, topology.shards.length);
            for (const s of topology.shards) {
              const known = shards.get(s.id);
              const newer = !known || (s.leaderId && s.term > known.term) || (!known.leaderId && s.leaderId);
              if (newer) shards.set(s.id, { leaderId: s.leaderId, term: s.term, replicas: [...s.replicas] });
            }
          } catch {
            // no answer: another node may know
          }
        }),
    );
    return { shardCount, shards };
  }

  /** Waits until every shard has a leader that answers; false on timeout. */
  async waitForLeaders(timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const { shardCount, shards } = await this.leaders();
      if (shardCount > 0 && [...Array(shardCount).keys()].every((s) => shards.get(s)?.leaderId)) return true;
      await sleep(200);
    }
    return false;
  }

  writePids() {
    const pids = [...this.members.values()].filter((m) => m.proc).map((m) => m.proc.pid);
    try {
      writeFileSync(this.pidFile, `${pids.join("\n")}\n`);
    } catch {
      // the watchdog keeps the last list
    }
  }

  /**
   * The first log line of node `id` (a parsed JSON object) that `match` accepts, from now
   * on; undefined after timeoutMs.
   * @param {string} id @param {(entry: any) => boolean} match @param {number} timeoutMs
   */
  waitForLog(id, match, timeoutMs) {
    return new Promise((resolve) => {
      const done = (entry) => {
        clearTimeout(timer);
        this.logWatchers.delete(watch);
        resolve(entry);
      };
      const watch = (from, line) => {
        if (from !== id || !line.startsWith("{")) return;
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          return;
        }
        if (match(entry)) done(entry);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.logWatchers.add(watch);
    });
  }

  /** Heals every link and continues every paused node. */
  clearFaults() {
    for (const link of this.links.values()) link.policy.clear();
    for (const m of this.members.values()) {
      m.clientProxy?.policy.clear();
      if (m.clock.size > 0) {
        m.clock.clear();
        this.writeControlFile(m.id);
      }
      if (m.state === "paused") this.resume(m.id);
    }
  }

  /** Stops every node by PID (SIGCONT first if paused, then SIGTERM, SIGKILL after 10 s) and closes the proxies. */
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping = true;
    await Promise.all(
      [...this.members.values()].map(async (m) => {
        if (!m.proc) return;
        m.expectExit = true;
        this.sampleCpu(m);
        if (m.state === "paused") {
          try {
            process.kill(m.proc.pid, "SIGCONT");
          } catch {
            // gone
          }
        }
        await stopNode(m.proc, "SIGTERM", 10_000);
      }),
    );
    await Promise.all([...this.links.values()].map((l) => l.close()));
    await Promise.all([...this.members.values()].map((m) => m.clientProxy?.close()));
    await Promise.all([...this.forwards.values()].map((f) => f.close()));
    this.watchdog?.();
    await Promise.all([...this.logs.values()].map((s) => new Promise((r) => s.end(r))));
  }

  /** SIGKILLs every node at once, synchronously (for a harness that must exit now). */
  killAllNow() {
    this.stopping = true;
    for (const m of this.members.values()) {
      if (!m.proc) continue;
      try {
        process.kill(m.proc.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    this.watchdog?.();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Listens on a free port that is none of `reserved` (a port a node is about to bind). */
async function listenAvoiding(proxy, reserved) {
  for (let attempt = 0; attempt < 50; attempt++) {
    await proxy.listen();
    if (!reserved.has(proxy.port)) return;
    if (proxy.unlisten) await proxy.unlisten();
    else await new Promise((resolve) => proxy.server.close(resolve));
    proxy.port = 0;
  }
  throw new Error("no free port outside the ones planned for the nodes");
}

/**
 * A detached process that SIGKILLs the PIDs listed in pidFile if the harness dies
 * without stopping them (a crash skips every exit handler). The harness rewrites the
 * file on every start and kill, so restarted nodes are covered too. Returns its stop.
 */
function startWatchdog(pidFile) {
  const script = `
    const fs = require("node:fs");
    const [parent, file] = [Number(process.argv[1]), process.argv[2]];
    setInterval(() => {
      try { process.kill(parent, 0); } catch {
        let pids = [];
        try { pids = fs.readFileSync(file, "utf8").split("\\n").filter(Boolean).map(Number); } catch {}
        for (const pid of pids) { try { process.kill(pid, "SIGKILL"); } catch {} }
        process.exit(0);
      }
    }, 500);`;
  const child = spawn(process.execPath, ["-e", script, String(process.pid), pidFile], { detached: true, stdio: "ignore" });
  child.unref();
  return () => {
    try {
      process.kill(child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  };
}
