// The chaos harness: real cache-node processes on 127.0.0.1, every peer link (and,
// optionally, every client port) behind a proxy the harness controls, a seeded schedule
// of faults (nodes joining and leaving among them), a capped workload from three kinds of
// clients, watchers of every key, and checks that give a verdict: linearizability per key,
// acknowledged writes, replica digests and membership after healing, TTLs, what the
// watchers received, and node liveness and memory. See tools/chaos/README.md.
//
//   npm run chaos -- --nodes 5 --duration 10m --seed 7
//   npm run chaos -- --schedule leader-isolation --node-args "--testing --testing-bug ack-before-commit" --seed 1
//   npm run chaos -- --schedule membership --seed 1
//
// Exit code: 0 the checks passed, 1 a check failed (the replay command is printed),
// 2 the run could not be made (bad flags, no build, nodes that would not start).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Prng } from "../fuzz/prng.mjs";
import { checkAcknowledged, compareReplicas, finalReads } from "./check-durability.mjs";
import { checkHealth, cpuShares } from "./check-health.mjs";
import { settleMembership } from "./check-membership.mjs";
import { checkLinearizability } from "./check-linearizability.mjs";
import { checkTtl } from "./check-ttl.mjs";
import { checkWatch, pendingKeys, watchExpectations } from "./check-watch.mjs";
import { RawClient, SdkClient, SessionClient } from "./clients.mjs";
import { FORBIDDEN_ANSWERS } from "./rpc-errors.mjs";
import { Nemesis } from "./nemesis.mjs";
import { ChaosCluster } from "./nodes.mjs";
import { BASE_NODE_ARGS, parseOptions, replayCommand, USAGE } from "./options.mjs";
import { latencyByPhase, printReport, reportJson } from "./report.mjs";
import { describeSchedule, randomSchedule, TARGETED, targetedSchedule } from "./schedule.mjs";
import { History, RateLimiter, runClient, Workload } from "./workload.mjs";
import { RawWatcher, SdkWatcher, settleWatchers, startWatchers } from "./watchers.mjs";
import { exitFlushed } from "../scripts/exit-flushed.mjs";

const argv = process.argv.slice(2);
let opts;
try {
  opts = parseOptions(argv);
} catch (err) {
  console.error(`chaos: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const log = (line) => console.log(line);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The seed comes first, so any run can be replayed.
log(`chaos: seed ${opts.seed}`);
const replay = replayCommand(argv, opts.seed);

const targeted = opts.schedule ? TARGETED[opts.schedule] : undefined;
const proxyClients = opts.proxyClients ?? targeted?.proxyClients ?? true;
const clientCounts = opts.clientsGiven || !targeted ? opts.clientCounts : targeted.clients;
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-chaos-"));
/** Harness time: ms since the workload started (negative before). */
let t0 = performance.now();
const now = () => performance.now() - t0;
/** Draws from the seed for one proxy or control file, by name: each its own stream. */
const randomFor = (name) => {
  const prng = Prng.derive(opts.seed, "links", name);
  return () => prng.float();
};

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
/** The more verbose of two log levels (b may be undefined). */
const moreVerbose = (a, b) => (b !== undefined && LOG_LEVELS.indexOf(b) < LOG_LEVELS.indexOf(a) ? b : a);

const cluster = new ChaosCluster({
  count: opts.nodes,
  dataRoot,
  args: [...BASE_NODE_ARGS, ...(targeted?.nodeArgs ?? []), ...opts.nodeArgs],
  argsFor: opts.argsFor,
  proxyClients,
  linkFaults: opts.linkFaults,
  // A schedule that follows node logs (vote-loss waits for "leading the shard", kill-during-move for
  // "replica move step") names the least verbose level it needs.
  logLevel: moreVerbose(opts.logLevel, targeted ? targeted.logLevelMin : opts.nemeses.includes("kill-during-move") ? "info" : undefined),
  randomFor,
  now,
});

let interrupted = false;
let cleaning;
/** Stops every process this run started, by PID (once). */
const cleanup = (keep) => {
  cleaning ??= (async () => {
    await cluster.stop().catch(() => cluster.killAllNow());
    if (!keep) rmSync(dataRoot, { recursive: true, force: true });
  })();
  return cleaning;
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nchaos: ${signal}: stopping every node it started (data kept in ${dataRoot})`);
    void cleanup(true).finally(() => process.exit(2));
  });
}
// A stray socket error from a proxied connection must not end the run.
const strayErrors = new Map();
process.on("uncaughtException", (err) => {
  const key = `${err.code ?? err.name}: ${String(err.message).slice(0, 80)}`;
  strayErrors.set(key, (strayErrors.get(key) ?? 0) + 1);
  if (strayErrors.get(key) === 1) console.error(`chaos: uncaught (counted, run continues): ${err.stack ?? err}`);
});

let exitCode = 2;
try {
  exitCode = await run();
} catch (err) {
  console.error(`chaos: could not run: ${err.stack ?? err}`);
  exitCode = 2;
}
if (!interrupted) {
  const keep = opts.keepData || exitCode !== 0;
  await cleanup(keep);
  if (keep) log(`node data and logs kept in ${dataRoot}`);
  await exitFlushed(exitCode);
}

async function run() {
  try {
    await cluster.start();
  } catch (err) {
    console.error(`chaos: the cluster did not start: ${err.message ?? err}`);
    return 2;
  }
  if (!(await cluster.waitForLeaders(30_000))) {
    console.error("chaos: not every shard had a leader within 30 s of the start");
    return 2;
  }
  const { shardCount } = await cluster.leaders();
  const described = cluster.ids.map((id) => {
    const m = cluster.members.get(id);
    return `${id} pid ${m.proc.pid} ${m.url}${proxyClients ? ` (clients via :${m.clientProxy.port})` : ""}`;
  });
  const actedBy = opts.linkFaults === "node" ? "nodes' fault hook" : "proxies";
  log(`cluster: ${described.join("; ")}; ${shardCount} shards; ${cluster.links.size} proxied peer links, faults acted by the ${actedBy}`);

  const ctx = {
    seed: opts.seed,
    durationMs: opts.durationMs,
    warmupMs: opts.warmupMs,
    healMs: opts.healMs,
    ids: cluster.ids,
    shardCount,
    enabled: opts.nemeses,
    proxyClients,
    maxDelayMs: 150,
    nodesMax: opts.nodesMax,
  };
  const schedule = opts.schedule ? targetedSchedule(opts.schedule, ctx) : randomSchedule(ctx);
  // ε: the read stamp lag (50 ms) plus an allowance for apply lag, which slow links add to.
  // A clock running slow on a leader stretches a TTL by its skew times the TTL.
  const ttlEpsilonMs = opts.ttlEpsilonMs ?? 250 + schedule.maxLinkDelayMs + Math.ceil(schedule.clockSkewMax * Math.max(...opts.ttlsMs));
  const what = opts.schedule ? ` ${opts.schedule}: ${schedule.about}` : ` (nemeses: ${opts.nemeses.join(",") || "none"})`;
  log(`schedule${what}; healed from ${(schedule.healAtMs / 1000).toFixed(1)} s:`);
  for (const line of describeSchedule(schedule)) log(line);

  const history = new History();
  const mix = opts.mix ?? schedule.mix ?? { register: 0.45, counter: 0.3, ttl: 0.25 };
  const workload = new Workload({
    mix,
    opsPerKey: opts.opsPerKey,
    registerKeys: opts.registerKeys,
    counterKeys: opts.counterKeys,
    ttlsMs: opts.ttlsMs,
    ttlTailMs: 1500 + ttlEpsilonMs,
    history,
    now,
  });
  const clients = makeClients();
  if (clients.length === 0) {
    console.error("chaos: no clients (--clients)");
    return 2;
  }

  const watchers = makeWatchers();
  const notReady = await startWatchers(watchers, shardCount, 20_000);
  if (notReady.length > 0) {
    console.error(`chaos: watcher(s) ${notReady.map((w) => w.name).join(", ")} held no position for every shard within 20 s`);
    await Promise.all(watchers.map((w) => w.close().catch(() => undefined)));
    return 2;
  }
  if (watchers.length) log(`watchers: ${watchers.map((w) => `${w.name} (${w.kind})`).join(", ")}, of every key with values`);

  const limiter = new RateLimiter(opts.rate);
  const control = { stopped: false };
  t0 = performance.now();
  // Every watcher holds a position for every shard: it covers every write from now on.
  for (const w of watchers) w.readyAtMs = now();
  const cpuAtStart = process.cpuUsage();
  const sampler = setInterval(() => cluster.sample(), 1000);
  const nemesis = new Nemesis({ cluster, schedule, now, log, nodesMax: opts.nodesMax });
  const progress = setInterval(() => {
    let ops = 0;
    let answered = 0;
    for (const e of history.entries()) {
      ops++;
      if (e.outcome === "ok" || e.outcome === "rejected") answered++;
    }
    const states = [...cluster.members.values()].filter((m) => m.state !== "up").map((m) => `${m.id} ${m.state}`);
    const exits = cluster.exits.length ? `; ${cluster.exits.length} unexpected exit(s)` : "";
    log(`  +${(now() / 1000).toFixed(0)} s: ${ops} operations, ${answered} answered${states.length ? `; ${states.join(", ")}` : ""}${exits}`);
  }, 10_000);

  const loops = clients.map((c, i) => runClient(c, Prng.derive(opts.seed, "client", i), workload, limiter, history, control));
  const nemesisDone = nemesis.run();
  await Promise.race([nemesisDone, sleep(schedule.healAtMs + 30_000)]);
  nemesis.stop();
  await nemesis.healAll();
  const healedAt = now();
  log(`  +${(healedAt / 1000).toFixed(1)} s: healed (every link clear, every node running)`);
  while (now() < opts.durationMs && !interrupted) await sleep(100);
  control.stopped = true;
  for (const c of clients) if (c instanceof SessionClient) c.stopping = true;
  await Promise.all(loops);
  const workloadMs = now();
  clearInterval(progress);
  log(`  +${(workloadMs / 1000).toFixed(1)} s: workload stopped; reading every key back`);

  const leadersBack = await cluster.waitForLeaders(30_000);
  const unread = await finalReads(cluster, history, now);
  // Nodes asked to leave stop, joined ones are members; then every replica the final topology names is compared.
  const membership = await settleMembership(cluster, 60_000);
  const replicas = await compareReplicas(cluster, opts.digestWaitMs);
  const watchSettled = await settleAndCloseWatchers(watchers, history);
  clearInterval(sampler);
  cluster.sample();
  // Every RSS sample ([ms, pid, bytes] per node), kept with the data of a failing run.
  const rssSeries = [...cluster.members.values()].map((m) => [m.id, m.rss.map((x) => [Math.round(x.t), x.pid, x.rss])]);
  writeFileSync(join(dataRoot, "rss.json"), JSON.stringify(Object.fromEntries(rssSeries)));
  const harnessCpu = process.cpuUsage(cpuAtStart);
  const health = checkHealth(cluster, { secondHalfFromMs: opts.durationMs / 2, rssRatioMax: opts.rssRatioMax, samplesMin: 5 });
  const cpu = cpuShares(cluster, { harnessCpu, wallMs: performance.now() - t0, nowMs: now() });
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  // The nodes are stopped before the checks run, so the checker has the CPU to itself.
  await cluster.stop();
  log(`  nodes stopped; checking ${history.keys.size} keys`);

  const linearizability = checkLinearizability(history, { budgetMs: opts.checkBudgetMs });
  const ttl = checkTtl(history, { epsilonMs: ttlEpsilonMs });
  const acknowledged = checkAcknowledged(history);
  const watch = checkWatch(history, watchSettled.snapshots, watchSettled);
  const phaseOf = (t) => (t >= healedAt ? "after healing" : nemesis.faultAt(t) ? "during faults" : "calm (before and between faults)");
  const latency = latencyByPhase(history, phaseOf);
  // A node never answers internal or unknown (docs/api-errors.md): each such answer is a bug.
  const forbidden = [...history.entries()].filter((e) => FORBIDDEN_ANSWERS.has(e.code));
  const recovered = [...history.entries()].some((e) => e.clientKind !== "final" && e.callTime >= healedAt && e.outcome === "ok");

  const sdkRetries = new Map();
  const session = { resends: 0, answeredAfterResend: 0, sessions: 0 };
  for (const c of clients) {
    if (c.kind === "sdk") for (const [r, n] of c.retries) sdkRetries.set(r, (sdkRetries.get(r) ?? 0) + n);
    if (c.kind === "session") {
      for (const n of c.retries.values()) session.resends += n;
      session.answeredAfterResend += c.answeredAfterResend;
      session.sessions += c.sessions;
    }
  }
  const report = {
    seed: opts.seed,
    nodes: opts.nodes,
    nodesMax: opts.nodesMax,
    durationMs: opts.durationMs,
    schedule: opts.schedule,
    nemeses: opts.nemeses,
    rate: opts.rate,
    nodeArgs: [...(targeted?.nodeArgs ?? []), ...opts.nodeArgs],
    argsFor: opts.argsFor,
    proxyClients,
    linkFaults: opts.linkFaults,
    clientSummary: `${clientCounts.sdk} sdk, ${clientCounts.raw} raw, ${clientCounts.session} session`,
    dataRoot,
    totalOps: [...history.entries()].filter((e) => e.clientKind !== "final").length,
    workloadMs,
    tally: history.tally,
    codes: history.codes,
    sdkRetries,
    session,
    faults: nemesis.records,
    transfers: nemesis.transfers,
    links: [...cluster.links.values()].map((l) => ({ name: l.name, ...l.stats })),
    clientProxies: [...cluster.members.values()].filter((m) => m.clientProxy).map((m) => ({ id: m.id, ...m.clientProxy.stats })),
    latency,
    linearizability,
    verdictMin: opts.verdictMin,
    ttl,
    ttlEpsilonMs,
    acknowledged,
    watch,
    unread,
    replicas,
    membership,
    health,
    rssRatioMax: opts.rssRatioMax,
    cpu,
    recovered,
    forbidden,
    replay,
  };
  if (!leadersBack) log("  note: not every shard had a leader 30 s after the workload stopped");
  if (strayErrors.size) log(`  stray errors in the harness: ${[...strayErrors].map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  const failures = printReport(report, log);
  if (opts.reportJson) writeFileSync(opts.reportJson, reportJson(report, failures));
  return failures.length ? 1 : 0;
}

/**
 * The watchers of every key: SDK ones through the client proxies (addressMap), raw ones
 * on a node drawn from the seed at each connection, given each node that joins.
 */
function makeWatchers() {
  const watchers = [];
  const urls = cluster.ids.map((id) => cluster.clientUrl(id));
  for (let i = 0; i < opts.watcherCounts.sdk; i++) {
    watchers.push(new SdkWatcher({ name: `watch-sdk-${i + 1}`, endpoints: urls, addressMap: cluster.addressMap(), now }));
  }
  for (let i = 0; i < opts.watcherCounts.raw; i++) {
    const prng = Prng.derive(opts.seed, "watcher-nodes", i);
    const random = () => prng.float();
    const urlOf = (id) => cluster.clientUrl(id);
    watchers.push(new RawWatcher({ name: `watch-raw-${i + 1}`, ids: cluster.ids, urlOf, routable: (id) => cluster.routable(id), random, now }));
  }
  cluster.memberWatchers.add((id) => {
    for (const w of watchers) if (w instanceof RawWatcher) w.addNode(id);
  });
  return watchers;
}

/**
 * After healing: the last STRONG read of every key, once the watchers caught up with it
 * (opts.watchWaitMs at most), then the watchers stopped and their records.
 */
async function settleAndCloseWatchers(watchers, history) {
  const expected = watchExpectations(history);
  const pending = (snapshot, finals) => pendingKeys(expected, snapshot, finals);
  const settled = watchers.length
    ? await settleWatchers(cluster, history, watchers, pending, opts.watchWaitMs)
    : { finals: new Map(), unread: [], waitedMs: 0, caughtUp: true };
  await Promise.all(watchers.map((w) => w.close().catch(() => undefined)));
  if (watchers.length) log(`  watchers: ${settled.caughtUp ? "caught up" : "not caught up"} after ${(settled.waitedMs / 1000).toFixed(1)} s`);
  return { ...settled, snapshots: watchers.map((w) => w.snapshot()) };
}

/**
 * The workload's clients. SDK clients start from the first nodes and find the others in
 * the topology (their addressMap follows nodes that join); raw and session clients are
 * given each node that joins once the cluster lists it, and stop sending to a node once
 * it is asked to leave.
 */
function makeClients() {
  const clients = [];
  const urls = cluster.ids.map((id) => cluster.clientUrl(id));
  const routable = (id) => cluster.routable(id);
  for (let i = 0; i < clientCounts.sdk; i++) {
    const addressMap = cluster.addressMap();
    clients.push(new SdkClient({ id: clients.length, name: `sdk-${i + 1}`, endpoints: urls, addressMap, timeoutMs: opts.opTimeoutMs + 1000, now }));
  }
  for (let i = 0; i < clientCounts.raw; i++) {
    const prng = Prng.derive(opts.seed, "raw-nodes", i);
    const random = () => prng.float();
    const name = `raw-${i + 1}`;
    clients.push(new RawClient({ id: clients.length, name, urls, ids: cluster.ids, timeoutMs: opts.opTimeoutMs, random, now, routable }));
  }
  for (let i = 0; i < clientCounts.session; i++) {
    const prng = Prng.derive(opts.seed, "session-nodes", i);
    const random = () => prng.float();
    const name = `ses-${i + 1}`;
    const sessionTag = `chaos${opts.seed}`;
    const timeoutMs = opts.opTimeoutMs;
    clients.push(new SessionClient({ id: clients.length, name, urls, ids: cluster.ids, timeoutMs, random, now, retryForMs: 20_000, sessionTag, routable }));
  }
  cluster.memberWatchers.add((id) => {
    for (const c of clients) if (c instanceof RawClient) c.addNode(id, cluster.clientUrl(id));
  });
  return clients;
}
