// The cluster under test: 3 or 5 cache-node processes on 127.0.0.1 (started with
// tools/scripts/local-nodes.mjs), every peer link through a PeerLinkProxy (one per
// ordered pair, named to each node with --peer-dial), and optionally every client port
// behind a ClientProxy. Processes are tracked and stopped by PID; a detached watchdog
// SIGKILLs them if the harness itself dies without stopping them.
//
// Nodes may join during the run (addMember) and be removed (removeMember). A joined node
// gets fresh ports, proxies for every link to and from it, --join and the flags every
// node gets. Its own --peer-dial and --client-dial name its proxies to the others; the
// others, whose flags are fixed (and whose --peer-dial may name only --initial-cluster
// ids), dial it at the peer address it advertises, a PeerDemux that hands each connection
// to the proxy of its link. Calls they forward to it go to its client port directly.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createWriteStream, existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, ClusterService } from "@distcache/proto";
import { freePorts, planCluster, startNode, stopNode } from "../scripts/local-nodes.mjs";
import { ClientProxy } from "./client-proxy.mjs";
import { PeerDemux, PeerLinkProxy } from "./peer-proxy.mjs";
import { readProcStat } from "./proc-stats.mjs";

/**
 * @typedef {object} Member
 * @property {string} id
 * @property {number} clientPort
 * @property {number} peerPort
 * @property {string} url        the node's own client URL (the harness's control calls use it)
 * @property {"starting" | "up" | "paused" | "down" | "removed"} state
 * @property {any} [proc]        the running process, from startNode
 * @property {boolean} expectExit
 * @property {boolean} joined      it joined during the run (--join), rather than from --initial-cluster
 * @property {string[]} dialTo     the nodes it dials through proxies of its own (--peer-dial, --client-dial)
 * @property {string} [joinVia]    the client URL its --join names
 * @property {PeerDemux} [demux]   the peer address it advertises (joined nodes)
 * @property {number} [memberAtMs] when the cluster first listed it as a member (joined nodes)
 * @property {number} [removingSinceMs] when RemoveNode was asked for it
 * @property {number} [removedAtMs] when it stopped by itself, removed (exit code 0 and its removed.json)
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
    /** Called with a joined node's id once the cluster lists it as a member. @type {Set<(id: string) => void>} */
    this.memberWatchers = new Set();
  }

  /** The members: every node but those removed. */
  get ids() {
    return [...this.members.values()].filter((m) => m.state !== "removed").map((m) => m.id);
  }

  /**
   * The members that count toward a majority: every node but those removed and those
   * joining whose first start has not ended yet.
   */
  memberIds() {
    return this.ids.filter((id) => {
      const m = this.members.get(id);
      return !m.joined || m.memberAtMs !== undefined || m.incarnations.length > 0;
    });
  }

  /** Whether clients should send calls to node `id`: a member not leaving. */
  routable(id) {
    const m = this.members.get(id);
    return m !== undefined && m.state !== "removed" && m.removingSinceMs === undefined;
  }

  /** A new member record, with its log and control clients. */
  addRecord(id, clientPort, peerPort, joined, dialTo) {
    const url = `http://127.0.0.1:${clientPort}`;
    const record = {
      id,
      clientPort,
      peerPort,
      url,
      state: "down",
      expectExit: false,
      joined,
      dialTo,
      incarnations: [],
      rss: [],
      forwardProxies: [],
      clock: new Map(),
    };
    this.members.set(id, record);
    this.logs.set(id, createWriteStream(join(this.options.dataRoot, `${id}.log`), { flags: "a" }));
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
    this.control.set(id, { cache: createClient(CacheService, transport), cluster: createClient(ClusterService, transport) });
    return record;
  }

  /**
   * The proxies of the link a → b: a PeerLinkProxy (listening when a dials it through its
   * --peer-dial, else fed by b's PeerDemux), and a forwarding proxy when a's --client-dial names b.
   */
  async openLink(a, b, reserved) {
    const actsOnPolicy = this.options.linkFaults !== "node";
    const target = this.members.get(b);
    const link = new PeerLinkProxy({
      from: a,
      to: b,
      upstream: { host: "127.0.0.1", port: target.peerPort },
      random: this.options.randomFor(`link ${a}->${b}`),
      actsOnPolicy,
    });
    const dials = this.members.get(a).dialTo.includes(b);
    // Calls a forwards to b go through a proxy of their own, which takes the link's cut and delay,
    // so a partition of the peer link cuts forwarding too.
    const forward = dials
      ? new ClientProxy({ nodeId: b, upstream: { host: "127.0.0.1", port: target.clientPort }, random: this.options.randomFor(`forward ${a}->${b}`) })
      : undefined;
    if (forward) {
      await listenAvoiding(forward, reserved);
      this.forwards.set(link.name, forward);
      target.forwardProxies.push(forward);
    }
    link.policy.onChange = () => {
      const { cut, delayMs, jitterMs } = link.policy.effective;
      forward?.policy.clear();
      if (forward && (cut || delayMs > 0)) forward.policy.add("peer-link", { cut, delayMs, jitterMs });
      if (!actsOnPolicy) this.writeControlFile(a);
    };
    if (dials) await listenAvoiding(link, reserved);
    this.links.set(link.name, link);
  }

  async openClientProxy(id, reserved) {
    if (!this.options.proxyClients) return;
    const m = this.members.get(id);
    const proxy = new ClientProxy({ nodeId: id, upstream: { host: "127.0.0.1", port: m.clientPort }, random: this.options.randomFor(`client ${id}`) });
    await listenAvoiding(proxy, reserved);
    m.clientProxy = proxy;
  }

  /** Plans ports, opens every proxy, starts every node. */
  async start() {
    const plan = await planCluster({ count: this.options.count });
    this.plan = plan;
    const ids = plan.members.map((m) => m.id);
    for (const m of plan.members) {
      this.addRecord(
        m.id,
        m.clientPort,
        m.peerPort,
        false,
        ids.filter((p) => p !== m.id),
      );
    }
    // The nodes' planned ports are free until the nodes start: no proxy may take one.
    const reserved = new Set(plan.members.flatMap((m) => [m.clientPort, m.peerPort]));
    for (const a of ids) {
      for (const b of ids) if (a !== b) await this.openLink(a, b, reserved);
      await this.openClientProxy(a, reserved);
    }
    this.watchdog = startWatchdog(this.pidFile);
    const started = await Promise.allSettled(ids.map((id) => this.startMember(id)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /**
   * Prepares node `id` (an id never used in this run) to join through `via` (a member's
   * client URL): fresh ports, and every proxy of its links to and from the members.
   * startMember then starts it; it listens once the cluster made it a member.
   */
  async prepareMember(id, via) {
    if (this.members.has(id)) throw new Error(`node ${id} exists already`);
    // Every node's ports stay its own, also while it is down or still joining (not listening).
    const taken = new Set([...this.members.values()].flatMap((m) => [m.clientPort, m.peerPort]));
    let ports = await freePorts(2);
    for (let attempt = 0; ports.some((p) => taken.has(p)) && attempt < 20; attempt++) ports = await freePorts(2);
    const [clientPort, peerPort] = ports;
    const reserved = new Set([...taken, clientPort, peerPort]);
    const others = this.ids;
    const m = this.addRecord(id, clientPort, peerPort, true, others);
    m.joinVia = via;
    m.demux = new PeerDemux({ to: id, upstream: { host: "127.0.0.1", port: peerPort }, linkFrom: (from) => this.link(from, id) });
    await listenAvoiding(m.demux, reserved);
    for (const other of others) {
      await this.openLink(id, other, reserved);
      await this.openLink(other, id, reserved);
    }
    await this.openClientProxy(id, reserved);
    void this.watchMember(id);
  }

  /**
   * Asks the cluster (through node `via`) to remove node `id`: its replicas move away, and
   * then it stops by itself (exit code 0, with removed.json in its data dir). Throws if
   * the call failed; the node counts as leaving from the call on.
   */
  async removeMember(id, via) {
    const m = this.members.get(id);
    m.removingSinceMs ??= this.options.now();
    const token = createHmac("sha256", this.plan.secret).update("distcache-cluster-admin-v1").digest("hex");
    const headers = { "distcache-admin-token": token };
    return this.control.get(via).cluster.removeNode({ nodeId: id }, { timeoutMs: 5000, headers });
  }

  /** Whether node `id` recorded its removal in its data dir. */
  removedFile(id) {
    return existsSync(join(this.options.dataRoot, id, "removed.json"));
  }

  /** Node `id` left the cluster as asked: no process, no client port, no longer a member. */
  markRemoved(id) {
    const m = this.members.get(id);
    if (m.state === "removed") return;
    m.state = "removed";
    m.removedAtMs = this.options.now();
    m.proc = undefined;
    void m.clientProxy?.unlisten();
    for (const f of m.forwardProxies) void f.unlisten();
    this.writePids();
  }

  /**
   * Follows a joined node until some member other than it lists it in its topology: its
   * memberAtMs, and the member watchers are told. Ends early if it is removed, its first
   * start fails, or the cluster stops.
   */
  async watchMember(id) {
    const m = this.members.get(id);
    const gaveUp = () => this.stopping || m.state === "removed" || (m.startFailed && m.incarnations.length === 0);
    while (m.memberAtMs === undefined && !gaveUp()) {
      const { nodes } = await this.leaders(
        800,
        this.ids.filter((other) => other !== id),
      );
      if (nodes.includes(id) && m.memberAtMs === undefined) {
        m.memberAtMs = this.options.now();
        for (const watch of this.memberWatchers) watch(id);
        return;
      }
      await sleep(300);
    }
  }

  /** Waits until the cluster lists joined node `id` (true), or timeoutMs passes, it is removed or its first start failed (false). */
  async waitForMember(id, timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    const m = this.members.get(id);
    for (;;) {
      if (m.memberAtMs !== undefined) return true;
      if (performance.now() >= deadline || m.state === "removed" || (m.startFailed && m.incarnations.length === 0)) return false;
      await sleep(100);
    }
  }

  /**
   * Whether the placement settled: every shard has `replicas` voters and no learner, none
   * on a node leaving or removed, and every member holds a replica.
   */
  async settled(replicas = 3) {
    const { shardCount, shards, nodes } = await this.leaders();
    if (shardCount === 0) return false;
    const members = new Set(this.ids.filter((id) => this.routable(id)));
    const holding = new Set();
    for (let s = 0; s < shardCount; s++) {
      const shard = shards.get(s);
      if (!shard?.leaderId || shard.learners.length > 0 || shard.replicas.length !== replicas) return false;
      if (!shard.replicas.every((r) => members.has(r))) return false;
      shard.replicas.forEach((r) => holding.add(r));
    }
    return [...members].every((id) => holding.has(id) && nodes.includes(id));
  }

  /** Waits (up to timeoutMs) until the placement settled; whether it did. */
  async waitForSettled(timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (await this.settled()) return true;
      await sleep(300);
    }
    return false;
  }

  /** The URL clients use for a node: its proxy when client traffic is proxied. */
  clientUrl(id) {
    const m = this.members.get(id);
    return m.clientProxy ? m.clientProxy.url : m.url;
  }

  /**
   * The SDK's addressMap, as a function: a node's advertised host:port → its client proxy,
   * for nodes that join later too; undefined without client proxies.
   */
  addressMap() {
    if (!this.options.proxyClients) return undefined;
    return (address) => {
      for (const m of this.members.values()) if (m.clientProxy && address === `127.0.0.1:${m.clientPort}`) return `127.0.0.1:${m.clientProxy.port}`;
      return address;
    };
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

  /**
   * Node `id`'s flags. A bootstrap node's --initial-cluster; a joined node's --join, its
   * peer port and the PeerDemux it advertises. Either way --peer-dial and --client-dial
   * name its proxies to the nodes of dialTo (the same on every start).
   */
  argsFor(id) {
    const m = this.members.get(id);
    const others = m.dialTo;
    const dial = others.map((p) => `${p}=127.0.0.1:${this.link(id, p).port}`).join(",");
    const own = this.options.argsFor.get(id) ?? [];
    const args = m.joined
      ? ["--join", m.joinVia, "--peer-port", String(m.peerPort), "--advertise-client", `127.0.0.1:${m.clientPort}`]
      : ["--initial-cluster", this.plan.initialCluster];
    if (m.joined) args.push("--advertise-peer", `127.0.0.1:${m.demux.port}`);
    args.push("--peer-secret", this.plan.secret, "--peer-dial", dial);
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
        if (to === id || !this.link(id, to)) continue;
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

  /**
   * Starts (or restarts) one node; resolves once it listens. A node asked to leave that
   * recorded its removal is not started again (it would refuse to); one that finds out it
   * was removed as it starts stops with code 0 before it listens: both are marked removed.
   */
  async startMember(id) {
    const m = this.members.get(id);
    if (m.removingSinceMs !== undefined && this.removedFile(id)) return this.markRemoved(id);
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
        onSpawn: (child) => {
          m.spawned = child;
          this.writePids();
        },
        // A joining node listens once the cluster made it a member: it asks for up to 120 s.
        startTimeoutMs: m.joined && m.incarnations.length === 0 ? 150_000 : 30_000,
      });
    } catch (err) {
      m.spawned = undefined;
      if (m.removingSinceMs !== undefined && this.removedFile(id)) return this.markRemoved(id);
      m.state = "down";
      m.startFailed = true;
      this.writePids();
      if (!this.stopping) this.startFailures.push({ id, atMs: this.options.now(), error: String(err.message ?? err).slice(0, 4000) });
      throw err;
    }
    m.spawned = undefined;
    m.proc = proc;
    m.state = "up";
    const incarnation = { pid: proc.pid, startedMs: this.options.now(), cpuSeconds: 0 };
    m.incarnations.push(incarnation);
    proc.child.on("exit", (code, signal) => this.exited(m, proc, incarnation, code, signal));
    this.writePids();
    await m.clientProxy?.listen();
    await Promise.all(m.forwardProxies.map((f) => f.listen()));
    return proc;
  }

  /** A node's process ended: by the nemesis, by the harness, removed as asked, or else unexpectedly (a failure of the run). */
  exited(m, proc, incarnation, code, signal) {
    incarnation.endedMs = this.options.now();
    if (m.proc === proc) {
      m.state = "down";
      m.proc = undefined;
    }
    const log = this.logs.get(m.id);
    log.write(`--- harness: ${m.id} (pid ${proc.pid}) exited: code ${code}, signal ${signal}\n`);
    // Only a node asked to leave may stop by itself, with code 0 and its removal recorded.
    if (code === 0 && m.removingSinceMs !== undefined && this.removedFile(m.id) && !this.stopping) {
      log.write(`--- harness: ${m.id} was removed from the cluster, as asked at +${(m.removingSinceMs / 1000).toFixed(1)} s\n`);
      this.markRemoved(m.id);
      return;
    }
    if (!m.expectExit && !this.stopping) {
      const stderr = proc.stderr.join("").slice(-4000);
      this.exits.push({ id: m.id, pid: proc.pid, code, signal, atMs: this.options.now(), stderr, log: join(this.options.dataRoot, `${m.id}.log`) });
    }
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
   * Each shard's leader as the running nodes report it (the highest term wins; at equal
   * terms, the leader's own answer), and the members of the newest topology (by epoch).
   * `askIds` limits the nodes asked.
   * @returns {Promise<{ shardCount: number, epoch: bigint, nodes: string[],
   *   shards: Map<number, { leaderId: string, term: bigint, replicas: string[], learners: string[] }> }>}
   */
  async leaders(timeoutMs = 800, askIds = undefined) {
    const shards = new Map();
    let shardCount = 0;
    let epoch = -1n;
    let nodes = [];
    const asked = [...this.members.values()].filter((m) => m.state === "up" && (askIds === undefined || askIds.includes(m.id)));
    await Promise.all(
      asked.map(async (m) => {
        try {
          const { topology } = await this.control.get(m.id).cluster.getTopology({}, { timeoutMs });
          shardCount = Math.max(shardCount, topology.shards.length);
          if (topology.epoch > epoch) [epoch, nodes] = [topology.epoch, topology.nodes.map((n) => n.id)];
          for (const s of topology.shards) {
            const known = shards.get(s.id);
            const own = s.leaderId === m.id;
            const newer = !known || (s.leaderId && s.term > known.term) || (!known.leaderId && s.leaderId) || (own && s.term === known.term && !known.own);
            if (newer) shards.set(s.id, { leaderId: s.leaderId, term: s.term, replicas: [...s.replicas], learners: [...s.learners], own });
          }
        } catch {
          // no answer: another node may know
        }
      }),
    );
    return { shardCount, shards, epoch, nodes };
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
    const pids = [...this.members.values()].flatMap((m) => [m.proc?.pid, m.spawned?.pid]).filter((pid) => pid !== undefined);
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

  /**
   * The first log line of any node that `match` accepts (with the node's id), from now on;
   * undefined after timeoutMs.
   * @param {(entry: any, id: string) => boolean} match @param {number} timeoutMs
   * @returns {Promise<{ id: string, entry: any } | undefined>}
   */
  waitForLogAny(match, timeoutMs) {
    return new Promise((resolve) => {
      const done = (found) => {
        clearTimeout(timer);
        this.logWatchers.delete(watch);
        resolve(found);
      };
      const watch = (id, line) => {
        if (!line.startsWith("{")) return;
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          return;
        }
        if (match(entry, id)) done({ id, entry });
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.logWatchers.add(watch);
    });
  }

  /** Heals every link and continues every paused node. */
  clearFaults() {
    for (const link of this.links.values()) link.policy.clear();
    for (const m of this.members.values()) {
      if (m.state === "removed") continue;
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
    for (const m of this.members.values()) if (m.spawned) stopNode({ pid: m.spawned.pid, child: m.spawned }, "SIGKILL", 0);
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
    await Promise.all([...this.members.values()].map((m) => m.demux?.close()));
    this.watchdog?.();
    await Promise.all([...this.logs.values()].map((s) => new Promise((r) => s.end(r))));
  }

  /** SIGKILLs every node at once, synchronously (for a harness that must exit now). */
  killAllNow() {
    this.stopping = true;
    for (const m of this.members.values()) {
      const pid = m.proc?.pid ?? m.spawned?.pid;
      if (pid === undefined) continue;
      try {
        process.kill(pid, "SIGKILL");
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
