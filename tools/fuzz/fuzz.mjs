// A hostile-client fuzzer for a distcache cluster.
//
//   npm run fuzz -- --requests 100000 --seed 7
//   npm run fuzz -- --endpoints http://10.0.0.1:7301,http://10.0.0.2:7301 --peer-secret-file secret
//
// It starts a fresh 3-node cluster (or uses --endpoints), warms it up with valid
// traffic, then sends --requests requests drawn from one seeded generator, spread over
// Connect JSON, Connect binary, gRPC and gRPC-Web, raw HTTP and the peer port, and
// checks: every answer's code is one docs/api-errors.md lists for its method (and
// never internal or unknown), no node exits, no node's RSS grows by more than
// --rss-limit-mib over the run, and every write it saw acknowledged reads back intact
// with STRONG reads. Exits 1 with a report when a check fails (2 when it cannot run).
// See docs/fuzzing.md.
import { randomInt } from "node:crypto";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Consistency } from "@distcache/proto";
import { familyOf, generate } from "./catalogue.mjs";
import { attachCluster, memberIncarnations, rssBytes, startOwnCluster, waitForLeaders } from "./cluster.mjs";
import { FORBIDDEN_CODES, loadAllowedCodes } from "./codes.mjs";
import { makePools } from "./model.mjs";
import { Prng } from "./prng.mjs";
import { callRpc, createClients } from "./senders.mjs";
import { exitFlushed } from "../scripts/exit-flushed.mjs";

const { values: opts } = parseArgs({
  options: {
    requests: { type: "string", default: "10000" },
    seed: { type: "string" },
    concurrency: { type: "string", default: "48" },
    warmup: { type: "string", default: "10000" },
    endpoints: { type: "string" },
    "peer-secret-file": { type: "string" },
    pids: { type: "string" },
    only: { type: "string" },
    families: { type: "string" },
    "stall-ms": { type: "string", default: "3000" },
    "stalls-max": { type: "string", default: "16" },
    "request-timeout-ms": { type: "string", default: "30000" },
    "rss-limit-mib": { type: "string", default: "100" },
    "settle-ms": { type: "string", default: "60000" },
    "errors-doc": { type: "string", default: fileURLToPath(new URL("../../docs/api-errors.md", import.meta.url)) },
    "keep-data": { type: "boolean", default: false },
    // Small snapshot intervals: with the defaults (10,000 entries or 64 MiB per shard) a
    // shard keeps every write of a run in its in-memory log, which the RSS check would
    // take for a leak. With these the log stays bounded, and snapshots run all the time.
    "node-args": { type: "string", default: "--snapshot-entries 2000 --snapshot-bytes 8MiB" },
    help: { type: "boolean", default: false },
  },
});

if (opts.help) {
  console.log(`usage: npm run fuzz -- [--requests N] [--seed S] [--concurrency C] [--warmup N]
                     [--endpoints URL,URL,... --peer-secret-file FILE [--pids P,P,...]]
                     [--only I,I,...] [--families F,F,...] [--stall-ms MS] [--stalls-max N] [--request-timeout-ms MS]
                     [--rss-limit-mib MIB] [--settle-ms MS] [--errors-doc PATH] [--keep-data] [--node-args "FLAGS"]`);
  process.exit(0);
}

const seed = opts.seed ?? String(randomInt(1, 2 ** 31));
// The seed comes first, so a failing run can always be replayed.
console.log(`fuzz: seed ${seed}`);

const requestCount = Number(opts.requests);
const concurrency = Number(opts.concurrency);
const warmupCount = Number(opts.warmup);
const hangMs = Number(opts["request-timeout-ms"]);
const stallMs = Number(opts["stall-ms"]);
const stallsMax = Number(opts["stalls-max"]);
const rssLimit = Number(opts["rss-limit-mib"]) * 1024 * 1024;
const only = opts.only ? opts.only.split(",").map(Number) : undefined;

let allowed;
try {
  allowed = loadAllowedCodes(opts["errors-doc"]);
} catch (err) {
  console.error(`fuzz: ${err.message}`);
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes) => (bytes === undefined ? "?" : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

// ---------------------------------------------------------------------------------------
// The cluster

let cluster;
try {
  cluster = opts.endpoints
    ? await attachCluster({ endpoints: opts.endpoints.split(","), secretFile: opts["peer-secret-file"], pids: opts.pids?.split(",").map(Number) })
    : await startOwnCluster({ args: opts["node-args"].split(" ").filter(Boolean) });
} catch (err) {
  console.error(`fuzz: cannot get a cluster: ${err.message}`);
  process.exit(2);
}

let interrupted = false;
const onSignal = (signal) => {
  if (interrupted) return;
  interrupted = true;
  console.error(`\nfuzz: ${signal}: stopping the nodes it started`);
  void cluster.stop(opts["keep-data"]).then(() => process.exit(130));
};
process.on("SIGINT", () => onSignal("SIGINT"));
// A socket error nobody listened for (a raw connection the server reset mid-write) must
// not end the run: count it, and keep going.
const strayErrors = new Map();
process.on("uncaughtException", (err) => {
  const key = `${err.code ?? err.name}: ${String(err.message).slice(0, 80)}`;
  strayErrors.set(key, (strayErrors.get(key) ?? 0) + 1);
});
process.on("SIGTERM", () => onSignal("SIGTERM"));

const report = { violations: new Map(), violationCount: 0 };
let exitCode = 0;
try {
  exitCode = await run();
} catch (err) {
  console.error(`fuzz: run failed: ${err.stack ?? err}`);
  exitCode = 2;
} finally {
  if (!interrupted) {
    const keep = opts["keep-data"] || exitCode !== 0;
    await cluster.stop(keep);
    if (cluster.own && keep) console.log(`node data and logs kept in ${cluster.dataRoot}`);
  }
}
await exitFlushed(exitCode);

// ---------------------------------------------------------------------------------------

async function run() {
  const topology = await waitForLeaders(cluster.nodes[0].url, 30_000);
  const nodes = cluster.nodes;
  console.log(`cluster: ${nodes.map((n) => `${n.id} ${n.url} (peer ${n.peerHost}:${n.peerPort}${n.pid ? `, pid ${n.pid}` : ""})`).join("; ")}`);
  if (!cluster.secret) console.log("no peer secret (--peer-secret-file): requests after a peer handshake are skipped");

  // A cluster the fuzzer did not start is watched by polling (its own nodes report their exits).
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    void cluster.checkAlive().finally(() => (polling = false));
  }, 1000);
  poll.unref();

  const clients = createClients(nodes);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const bigBuffers = {
    json: Buffer.from(`{"key":"big","text":"${"z".repeat(4 * 1024 * 1024)}"}`),
    garbage: Buffer.from(new Prng(`${seed}/big`).bytes(4 * 1024 * 1024 + 16)),
  };
  const ctx = {
    seed,
    nodes,
    memberIds: topology.nodes.map((n) => n.id),
    shardCount: topology.shards.length,
    pool: makePools(new Prng(`${seed}/pools`)),
    secret: cluster.secret,
    incarnations: memberIncarnations(cluster.dataRoot, topology.nodes),
    hangMs,
    stallMs,
  };
  const env = {
    agent,
    hangMs,
    stallMs,
    bigBuffers,
    call: (encoding, nodeIndex, variant, service, method, request, timeoutMs) => {
      const variants = clients[nodeIndex][encoding];
      return callRpc(variants[variant % variants.length], service, method, request, { timeoutMs, hangMs });
    },
  };

  /** Acknowledged writes: key → the value the cluster answered ok to. */
  const acked = new Map();
  /** Codes per encoding, for the fuzz run and (apart) for the warm-up. */
  const histogram = new Map();
  const warmCodes = new Map();
  const families = new Map();
  /** Answers that break a check, judged once the run is over: by then every node exit is known. */
  const candidates = [];
  const afterExit = { count: 0 };
  const stalls = { running: 0, waiters: [], outcomes: new Map(), promises: new Set() };

  const record = (index, desc, outcome, phase, startedAt) => {
    outcome.elapsedMs = Date.now() - startedAt;
    // An HTTP status with no RPC code: as the code a client derives when the request was an RPC, else as the status.
    const label =
      outcome.via === "http" && outcome.status !== undefined && !outcome.code.startsWith("http_")
        ? desc.rpcShaped
          ? `${outcome.code} (http ${outcome.status})`
          : `http_${outcome.status}`
        : outcome.code;
    if (phase === "warm") warmCodes.set(label, (warmCodes.get(label) ?? 0) + 1);
    else {
      const byEncoding = histogram.get(desc.encoding) ?? new Map();
      byEncoding.set(label, (byEncoding.get(label) ?? 0) + 1);
      histogram.set(desc.encoding, byEncoding);
      const fam = families.get(desc.family) ?? { count: 0, ms: 0 };
      fam.count++;
      fam.ms += Date.now() - startedAt;
      families.set(desc.family, fam);
    }
    if (desc.ack && outcome.code === "ok") acked.set(desc.ack.key, desc.ack);
    const problems = judge(desc, outcome);
    if (problems.length === 0) return;
    const lite = { family: desc.family, method: desc.method, encoding: desc.encoding, summary: desc.summary, nodeId: desc.nodeId };
    for (const problem of problems) candidates.push({ problem, desc: lite, outcome, index, phase, startedAt, endedAt: Date.now() });
  };

  /**
   * Groups the candidates into violations. An answer from a node that exited while (or
   * shortly after) the request was out follows from that exit, which is reported itself.
   */
  const finalize = () => {
    for (const c of candidates) {
      const exit = cluster.exits.find((e) => e.id === c.desc.nodeId);
      if (exit && Date.parse(exit.at) >= c.startedAt - 2000 && Date.parse(exit.at) <= c.endedAt + 5000) {
        afterExit.count++;
        continue;
      }
      violation(c.problem, c.desc, c.outcome, c.index, c.phase);
    }
  };

  /** Every reason this answer breaks a check. */
  const judge = (desc, outcome) => {
    const problems = [];
    const row = allowed.get(desc.method);
    if (outcome.via === "timeout" && !desc.stall) problems.push(`no answer within ${hangMs} ms`);
    if (row && (outcome.via === "rpc" || (outcome.via === "http" && desc.rpcShaped))) {
      // The doc's shared refusals: an elapsed caller deadline is deadline_exceeded on every method.
      const callerDeadline = desc.deadline && outcome.code === "deadline_exceeded";
      if (FORBIDDEN_CODES.has(outcome.code)) problems.push(`code ${outcome.code}`);
      else if (!row.has(outcome.code) && !callerDeadline) problems.push(`code ${outcome.code} is not in the method's row of the doc`);
    } else if (outcome.via === "http" && outcome.status >= 500) {
      problems.push(`HTTP ${outcome.status} without an RPC code`);
    }
    const extra = desc.check?.(outcome);
    if (extra) problems.push(extra);
    return problems;
  };

  /** Violations are grouped by what went wrong and the server's message (numbers folded), so one cause is one entry. */
  const violation = (problem, desc, outcome, index, phase) => {
    report.violationCount++;
    const pattern = (outcome.message ?? "")
      .replace(/\d+/g, "N")
      .replace(/"[^"]{20,}"/g, '"…"')
      .slice(0, 90);
    const key = `${problem} | ${pattern}`;
    const v = report.violations.get(key) ?? { problem, pattern, count: 0, where: new Map(), examples: [] };
    v.count++;
    const where = `${desc.family} ${desc.method} over ${desc.encoding}`;
    v.where.set(where, (v.where.get(where) ?? 0) + 1);
    if (v.examples.length < 3)
      v.examples.push({
        index,
        phase,
        code: outcome.code,
        status: outcome.status,
        message: (outcome.message ?? "").slice(0, 240),
        detail: outcome.detail,
        summary: desc.summary,
        node: desc.nodeId,
        where,
      });
    report.violations.set(key, v);
  };

  const runStall = async (index, desc) => {
    while (stalls.running >= stallsMax) await new Promise((r) => stalls.waiters.push(r));
    stalls.running++;
    const startedAt = Date.now();
    const p = desc
      .run(env)
      .catch((err) => ({ code: `fuzzer_error: ${err.message}`, via: "stall" }))
      .then((outcome) => {
        stalls.outcomes.set(outcome.code, (stalls.outcomes.get(outcome.code) ?? 0) + 1);
        record(index, desc, outcome, "run", startedAt);
      })
      .finally(() => {
        stalls.running--;
        stalls.promises.delete(p);
        stalls.waiters.shift()?.();
      });
    stalls.promises.add(p);
  };

  const runOne = async (index, namespace) => {
    const desc = generate({ ...ctx }, index, namespace);
    if (desc.stall) return runStall(index, desc);
    const startedAt = Date.now();
    let outcome;
    try {
      outcome = await desc.run(env);
    } catch (err) {
      // A fuzzer bug, not a server finding: report it as such.
      outcome = { code: "fuzzer_error", via: "fuzzer", message: String(err.stack ?? err) };
      violation(`the fuzzer itself failed on this request`, desc, outcome, index, namespace);
      return;
    }
    record(index, desc, outcome, namespace, startedAt);
  };

  const pool = async (indexes, namespace, label) => {
    let next = 0;
    let done = 0;
    const started = Date.now();
    let lastPrint = started;
    const worker = async () => {
      while (next < indexes.length && !interrupted) {
        const i = indexes[next++];
        await runOne(i, namespace);
        done++;
        if (Date.now() - lastPrint > 5000) {
          lastPrint = Date.now();
          const exits = cluster.exits.length ? `, ${cluster.exits.length} node exit(s)` : "";
          console.log(
            `  ${label}: ${done}/${indexes.length} in ${((Date.now() - started) / 1000).toFixed(0)} s, ${candidates.length} answer(s) breaking a check${exits}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, indexes.length) }, worker));
    return (Date.now() - started) / 1000;
  };

  // Warm-up: valid traffic only (acknowledged Sets and valid reads), then the RSS baseline.
  const warmSeconds = await pool(
    Array.from({ length: warmupCount }, (_, i) => i),
    "warm",
    "warm-up",
  );
  console.log(`warm-up: ${warmupCount} valid requests in ${warmSeconds.toFixed(1)} s, ${acked.size} acknowledged writes`);
  await sleep(1000);
  const rssBefore = new Map(nodes.map((n) => [n.id, n.pid ? rssBytes(n.pid) : undefined]));
  const storesBefore = await storeTotals(clients, nodes);
  const heapBefore = await liveMemory(nodes);

  // --families keeps the requests of those families among the first --requests.
  const keep = opts.families ? new Set(opts.families.split(",").map((f) => f.trim())) : undefined;
  const indexes = (only ?? Array.from({ length: requestCount }, (_, i) => i)).filter((i) => !keep || keep.has(familyOf(ctx, i)));
  const runSeconds = await pool(indexes, "run", "fuzz");
  await Promise.all([...stalls.promises]);
  console.log(`fuzz: ${indexes.length} requests in ${runSeconds.toFixed(1)} s (${(indexes.length / runSeconds).toFixed(0)}/s)`);

  // Let the nodes settle (sweeps, compaction, GC), then measure.
  await sleep(2000);
  await cluster.checkAlive();
  const rssPeak = new Map(nodes.map((n) => [n.id, n.pid && n.alive ? rssBytes(n.pid) : undefined]));
  // Buffers of finished requests stay allocated until V8's next full collection: under
  // load it comes once they pass a fixed allowance (64 MiB), after the load from V8's
  // memory reducer, within about 30 s. RSS taken earlier counts that garbage; a leak
  // stays after it.
  await sleep(Number(opts["settle-ms"]));
  const settleSeconds = Number(opts["settle-ms"]) / 1000 + 2;
  clearInterval(poll);
  await cluster.checkAlive();
  const rssAfter = new Map(nodes.map((n) => [n.id, n.pid && n.alive ? rssBytes(n.pid) : undefined]));
  const storesAfter = await storeTotals(clients, nodes);
  const heapAfter = await liveMemory(nodes);
  const ackResult = await checkAcknowledged(acked, clients, nodes);
  finalize();

  // ------------------------------------------------------------------ report
  console.log("\n== response codes per encoding (fuzz run)");
  for (const [encoding, codes] of [...histogram].sort()) {
    const total = [...codes.values()].reduce((a, b) => a + b, 0);
    console.log(`  ${encoding} (${total})`);
    for (const [code, n] of [...codes].sort((a, b) => b[1] - a[1])) console.log(`    ${String(n).padStart(7)}  ${code}`);
  }
  console.log(
    `  warm-up: ${[...warmCodes]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(", ")}`,
  );
  console.log("\n== requests per family");
  console.log(
    `  ${[...families]
      .sort((a, b) => b[1].count - a[1].count)
      .map(([f, v]) => `${f} ${v.count} (mean ${(v.ms / v.count).toFixed(0)} ms)`)
      .join(", ")}`,
  );
  if (strayErrors.size) console.log(`  client-side socket errors with no request to report them: ${[...strayErrors].map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  if (stalls.outcomes.size)
    console.log(`  stalled connections: ${[...stalls.outcomes].map(([c, n]) => `${c} ${n}`).join(", ")} (held ${stallMs} ms, at most ${stallsMax} at once)`);

  console.log(`\n== node RSS (after warm-up → end of run, settled ${settleSeconds.toFixed(0)} s after the last request)`);
  const rssProblems = [];
  for (const n of nodes) {
    const before = rssBefore.get(n.id);
    const after = rssAfter.get(n.id);
    const delta = before !== undefined && after !== undefined ? after - before : undefined;
    const flag = delta !== undefined && delta > rssLimit ? "  ← above the limit" : "";
    const [h0, h1] = [heapBefore.get(n.id), heapAfter.get(n.id)];
    const live =
      h0 && h1
        ? `; JS heap used ${mib(h0.heapUsed)} → ${mib(h1.heapUsed)} of ${mib(h0.heapTotal)} → ${mib(h1.heapTotal)} reserved, ` +
          `buffers outside it ${mib(h0.external)} → ${mib(h1.external)}; ${h0.connections} → ${h1.connections} client connections open`
        : "";
    const change = delta !== undefined ? ` (${delta >= 0 ? "+" : ""}${mib(delta)})` : n.pid ? " (node gone)" : " (no PID: not measured)";
    const peak = rssPeak.get(n.id) !== undefined ? `; ${mib(rssPeak.get(n.id))} 2 s after the last request` : "";
    console.log(`  ${n.id}: ${mib(before)} → ${mib(after)}${change}${peak}${live}${flag}`);
    if (flag) rssProblems.push(`${n.id} grew by ${mib(delta)}, above ${opts["rss-limit-mib"]} MiB`);
  }

  console.log("\n== stores (after warm-up → end of run: keys, accounted bytes; evictions and expirations during the run)");
  for (const n of nodes) {
    const [a, b] = [storesBefore.get(n.id), storesAfter.get(n.id)];
    if (!a || !b) {
      console.log(`  ${n.id}: no Stats answer`);
      continue;
    }
    const [evicted, expired] = [b.evictions - a.evictions, b.expirations - a.expirations];
    console.log(`  ${n.id}: ${a.keys} → ${b.keys} keys, ${mib(a.bytes)} → ${mib(b.bytes)}; ${evicted} evicted, ${expired} expired`);
  }

  console.log("\n== node exits");
  if (cluster.exits.length === 0) console.log("  none");
  for (const e of cluster.exits) {
    console.log(`  ${e.id} (pid ${e.pid}) exited at ${e.at}: code ${e.code}, signal ${e.signal}${e.logFile ? `; log ${e.logFile}` : ""}`);
    const tail = e.stderr.trim().split("\n").slice(-40).join("\n    ");
    if (tail) console.log(`    ${tail}`);
  }

  if (afterExit.count) console.log(`  ${afterExit.count} answer(s) from nodes that were exiting are not judged`);

  console.log("\n== acknowledged writes (STRONG reads at the end)");
  const ackNote = ackResult.note ? ` (${ackResult.note})` : "";
  console.log(
    `  ${ackResult.checked} checked: ${ackResult.intact} intact, ${ackResult.missing.length} missing, ` +
      `${ackResult.wrong.length} with another value, ${ackResult.unreadable} unreadable${ackNote}`,
  );
  for (const m of ackResult.missing.slice(0, 5)) console.log(`    missing: ${m}`);
  for (const w of ackResult.wrong.slice(0, 5)) console.log(`    wrong: ${w}`);

  console.log("\n== violations");
  if (report.violations.size === 0) console.log("  none");
  for (const v of [...report.violations.values()].sort((a, b) => b.count - a.count)) {
    const where = [...v.where].sort((a, b) => b[1] - a[1]);
    console.log(`  ${String(v.count).padStart(6)} × ${v.problem}${v.pattern ? `: "${v.pattern}"` : ""}`);
    console.log(
      `           in ${where
        .slice(0, 6)
        .map(([w, n]) => `${w} (${n})`)
        .join(", ")}${where.length > 6 ? `, and ${where.length - 6} more` : ""}`,
    );
    for (const e of v.examples) {
      const replay = e.phase === "run" ? `replay: npm run fuzz -- --seed ${seed} --only ${e.index}` : "warm-up";
      console.log(
        `           #${e.index} (${replay}) ${e.where} to ${e.node}${e.status ? `, http ${e.status}` : ""}${e.summary ? `: ${e.summary.slice(0, 240)}` : ""}`,
      );
      if (e.message && e.message.length > 90) console.log(`               "${e.message.replace(/\s+/g, " ")}"`);
      if (e.detail) console.log(`               ${e.detail.slice(0, 400)}`);
    }
  }

  const failures = [];
  if (report.violationCount > 0) failures.push(`${report.violationCount} answer(s) broke a check`);
  if (cluster.exits.length > 0) failures.push(`${cluster.exits.length} node(s) exited`);
  failures.push(...rssProblems);
  if (ackResult.missing.length || ackResult.wrong.length)
    failures.push(`${ackResult.missing.length + ackResult.wrong.length} acknowledged write(s) did not read back intact`);
  if (ackResult.unreadable > 0) failures.push(`${ackResult.unreadable} acknowledged write(s) could not be read back`);
  console.log(`\n${failures.length ? `FAIL (seed ${seed}): ${failures.join("; ")}` : `PASS (seed ${seed})`}`);
  return failures.length ? 1 : 0;
}

/** Each live node's JS heap in use and memory held outside it (buffers), from its /metrics. */
async function liveMemory(nodes) {
  const out = new Map();
  await Promise.all(
    nodes.map(async (n) => {
      if (!n.alive) return;
      try {
        const text = await (await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        const value = (name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
        out.set(n.id, {
          heapUsed: value("distcache_process_nodejs_heap_size_used_bytes"),
          heapTotal: value("distcache_process_nodejs_heap_size_total_bytes"),
          external: value("distcache_process_nodejs_external_memory_bytes"),
          connections: value("distcache_client_connections"),
        });
      } catch {
        // no answer: not reported
      }
    }),
  );
  return out;
}

/** Each live node's store counters summed over its shard replicas (Stats), by node id. */
async function storeTotals(clients, nodes) {
  const out = new Map();
  await Promise.all(
    nodes.map(async (n, j) => {
      if (!n.alive) return;
      const o = await callRpc(clients[j]["connect-proto"][0], "cache", "stats", {}, { hangMs: 10_000, timeoutMs: 5_000 });
      const t = o.response?.total;
      if (o.code === "ok" && t)
        out.set(n.id, { keys: Number(t.keys), bytes: Number(t.bytes), evictions: Number(t.evictions), expirations: Number(t.expirations) });
    }),
  );
  return out;
}

/** Reads every acknowledged key back with STRONG MGets, retrying batches that fail. */
async function checkAcknowledged(acked, clients, nodes) {
  const keys = [...acked.keys()];
  const result = { checked: keys.length, intact: 0, missing: [], wrong: [], unreadable: 0, note: "" };
  // Without a majority no STRONG read can succeed: say so instead of retrying each batch.
  if (nodes.filter((n) => n.alive).length * 2 <= nodes.length) {
    result.unreadable = keys.length;
    result.note = "a majority of the nodes exited, so no STRONG read can be served";
    return result;
  }
  const batch = 200;
  for (let i = 0; i < keys.length; i += batch) {
    const slice = keys.slice(i, i + batch);
    let response;
    for (let attempt = 0; attempt < 6 && !response; attempt++) {
      const alive = nodes.map((n, j) => [n, j]).filter(([n]) => n.alive);
      if (alive.length === 0) break;
      const [, j] = alive[(i / batch + attempt) % alive.length];
      const o = await callRpc(
        clients[j]["connect-proto"][0],
        "cache",
        "mGet",
        { keys: slice, consistency: Consistency.STRONG },
        { hangMs: 10_000, timeoutMs: 5_000 },
      );
      if (o.code === "ok") response = o.response;
      else await sleep(300 * (attempt + 1));
    }
    if (!response) {
      result.unreadable += slice.length;
      continue;
    }
    slice.forEach((key, k) => {
      const want = acked.get(key);
      const got = response.results[k];
      if (!got?.found) return result.missing.push(key);
      const same =
        want.text !== undefined
          ? got.payload.case === "text" && got.payload.value === want.text
          : got.payload.case === "value" && Buffer.from(got.payload.value).equals(Buffer.from(want.value));
      if (same) result.intact++;
      else {
        const wrote = want.text !== undefined ? `text ${JSON.stringify(want.text)}` : `${want.value.length} bytes`;
        result.wrong.push(`${key}: wrote ${wrote}, read ${got.payload.case} ${JSON.stringify(String(got.payload.value).slice(0, 40))}`);
      }
    });
  }
  return result;
}
