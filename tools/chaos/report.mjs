// The run's report: what ran, what the nemesis did, how each check came out, and the
// verdict with the command that replays the seed. Printed as text; --report-json writes
// the same facts (and every key's verdict) as JSON.
import { counterModel, versionedRegisterModel } from "@distcache/linearizability";
import { opLabel } from "./workload.mjs";

const OUTCOMES = ["ok", "rejected", "notApplied", "indeterminate", "readFailed"];
const mib = (b) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const sec = (ms) => `+${(ms / 1000).toFixed(3)}`;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Latency of answered operations (ok, rejected) by phase: calm, during faults, after healing. */
export function latencyByPhase(history, phaseOf) {
  const phases = new Map([
    ["calm (before and between faults)", { answered: [], total: 0 }],
    ["during faults", { answered: [], total: 0 }],
    ["after healing", { answered: [], total: 0 }],
  ]);
  for (const e of history.entries()) {
    if (e.clientKind === "final") continue;
    const p = phases.get(phaseOf(e.callTime));
    p.total++;
    if (e.outcome === "ok" || e.outcome === "rejected") p.answered.push(e.returnTime - e.callTime);
  }
  return [...phases].map(([phase, { answered, total }]) => {
    const s = answered.sort((a, b) => a - b);
    return { phase, total, answered: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.at(-1) ?? NaN };
  });
}

function describeOp(cls, op) {
  const model = cls === "register" ? versionedRegisterModel : counterModel;
  try {
    return model.describeOperation(op.input, op.output);
  } catch {
    return JSON.stringify(op.input);
  }
}

/** A failing key's minimal history, one operation a line, in call order. */
export function formatFailing(result) {
  const lines = [];
  const ops = [...result.failing.operations].sort((a, b) => a.callTime - b.callTime);
  for (const op of ops) {
    const m = op.meta ?? {};
    const ret = op.returnTime === undefined ? "      ?   " : sec(op.returnTime);
    const via = m.node ? ` (via ${m.node}${m.attempts > 1 ? `, ${m.attempts} attempts` : ""})` : "";
    const unknown = op.returnTime === undefined ? ` [${m.code ?? "unknown outcome"}]` : "";
    lines.push(`      [${sec(op.callTime)} → ${ret}] ${(m.client ?? `client ${op.clientId}`).padEnd(10)} ${describeOp(result.cls, op)}${via}${unknown}`);
  }
  lines.push("      checker's explanation:");
  for (const l of result.failing.explanation.split("\n")) lines.push(`        ${l}`);
  return lines;
}

/**
 * Prints the report; returns the list of failures (empty: the run passed).
 * @param {any} run
 * @param {(line: string) => void} print
 */
export function printReport(run, print) {
  const failures = [];
  print("");
  const faultsChosen = run.schedule ? `, schedule ${run.schedule}` : `, nemeses ${run.nemeses.join(",") || "none"}`;
  const budget = run.nodesMax > run.nodes ? ` (up to ${run.nodesMax} members)` : "";
  print(`== run: seed ${run.seed}, ${run.nodes} nodes${budget}, ${(run.durationMs / 1000).toFixed(0)} s${faultsChosen}`);
  const perSecond = (run.totalOps / (run.workloadMs / 1000)).toFixed(0);
  const traffic = run.proxyClients ? "through proxies (SDK via addressMap)" : "direct";
  print(`  ${run.totalOps} operations in ${(run.workloadMs / 1000).toFixed(1)} s (${perSecond}/s, cap ${run.rate}/s)`);
  print(`  clients ${run.clientSummary}; client traffic ${traffic}`);
  if (run.nodeArgs.length) print(`  node flags: ${run.nodeArgs.join(" ")}`);
  for (const [id, a] of run.argsFor) print(`  ${id} flags: ${a.join(" ")}`);
  print(`  data and node logs: ${run.dataRoot} (kept when the run fails, or with --keep-data)`);

  print("\n== operations by kind and outcome");
  print(`  ${"client op".padEnd(30)}${OUTCOMES.map((o) => o.padStart(14)).join("")}`);
  for (const [label, counts] of [...run.tally].sort()) print(`  ${label.padEnd(30)}${OUTCOMES.map((o) => String(counts.get(o) ?? 0).padStart(14)).join("")}`);
  if (run.codes.size)
    print(
      `  codes of failed operations: ${[...run.codes]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ×${n}`)
        .join(", ")}`,
    );
  if (run.sdkRetries.size) print(`  SDK retries by reason: ${[...run.sdkRetries].map(([r, n]) => `${r} ${n}`).join(", ")}`);
  const s = run.session;
  for (const e of run.forbidden.slice(0, 5)) {
    print(`  a node answered ${e.code}: ${e.clientName} ${e.cls}:${opLabel(e)} ${e.key} via ${e.node ?? "sdk"} at ${sec(e.callTime)} s`);
  }
  if (run.forbidden.length) failures.push(`${run.forbidden.length} answer(s) with a code a node never sends (internal, unknown)`);
  print(`  session clients: ${s.resends} resends, ${s.answeredAfterResend} writes answered after a resend, ${s.sessions} sessions`);

  print("\n== faults");
  const byKind = new Map();
  for (const r of run.faults) {
    const k = byKind.get(r.kind) ?? { applied: 0, skipped: 0 };
    k[r.applied ? "applied" : "skipped"]++;
    byKind.set(r.kind, k);
  }
  if (byKind.size === 0) print("  none");
  for (const [kind, k] of byKind) print(`  ${kind.padEnd(18)} ${k.applied} applied${k.skipped ? `, ${k.skipped} skipped` : ""}`);
  if (run.transfers.attempts) {
    const failed = run.transfers.failed.size ? `, failed: ${[...run.transfers.failed].map(([c, n]) => `${c} ${n}`).join(", ")}` : "";
    print(`  TransferLeader: ${run.transfers.attempts} sent, ${run.transfers.ok} ok${failed}`);
  }
  const notes = run.faults.filter((r) => r.note && r.applied);
  for (const r of notes) print(`  note: ${r.detail}: ${r.note}`);
  print("  peer links (frames forwarded / dropped by loss / dropped while cut / connection resets):");
  for (const l of run.links) {
    const counts = [String(l.framesForwarded).padStart(8), String(l.framesDroppedLoss).padStart(6), String(l.framesDroppedCut).padStart(6), l.resets];
    print(`    ${l.name.padEnd(8)} ${counts.join(" / ")}  (${l.connections} connections)`);
  }
  if (run.clientProxies.length) {
    print(`  client proxies (resets / chunks swallowed while cut): ${run.clientProxies.map((c) => `${c.id} ${c.resets}/${c.chunksSwallowed}`).join(", ")}`);
  }

  print("\n== latency of answered operations (ms)");
  print(`  ${"phase".padEnd(34)}${["ops", "answered", "p50", "p90", "p99", "max"].map((h) => h.padStart(10)).join("")}`);
  const cell = (v) => (Number.isNaN(v) ? "-" : String(Math.round(v))).padStart(10);
  for (const l of run.latency) print(`  ${l.phase.padEnd(34)}${[l.total, l.answered, l.p50, l.p90, l.p99, l.max].map(cell).join("")}`);

  print("\n== linearizability per key");
  const lin = run.linearizability;
  for (const cls of ["register", "counter"]) {
    const rows = lin.filter((r) => r.cls === cls);
    if (rows.length === 0) continue;
    const count = (v) => rows.filter((r) => r.verdict === v).length;
    const ops = rows.reduce((a, r) => a + r.operations, 0);
    const ind = rows.reduce((a, r) => a + r.indeterminate, 0);
    const verdicts = `${count("ok")} ok, ${count("illegal")} illegal, ${count("unknown")} unknown`;
    print(`  ${cls}: ${rows.length} keys, ${ops} operations (${ind} of unknown outcome): ${verdicts}`);
    print(`    ${rows.map((r) => `${r.key}:${r.verdict}(${r.operations})`).join(" ")}`);
  }
  const reached = lin.filter((r) => r.verdict !== "unknown").length;
  const share = lin.length ? reached / lin.length : 1;
  print(`  keys with a verdict: ${reached} of ${lin.length} (${(share * 100).toFixed(1)}%, at least ${(run.verdictMin * 100).toFixed(0)}% required)`);
  const illegal = lin.filter((r) => r.verdict === "illegal");
  if (illegal.length)
    failures.push(
      `${illegal.length} key(s) not linearizable (${illegal
        .slice(0, 5)
        .map((r) => r.key)
        .join(", ")})`,
    );
  if (share < run.verdictMin) failures.push(`only ${(share * 100).toFixed(1)}% of keys reached a verdict`);
  const shown = illegal.filter((r) => r.failing).sort((a, b) => a.failing.operations.length - b.failing.operations.length)[0];
  if (shown) {
    const size = `${shown.failing.operations.length} of ${shown.operations} operations`;
    print(`  minimal failing history of ${shown.key} (${shown.cls}, ${size}; times in s from the start):`);
    for (const l of formatFailing(shown)) print(l);
  }
  for (const r of lin.filter((x) => x.error)) print(`  ${r.key}: checker error: ${r.error}`);

  print(`\n== TTL (ε ${run.ttlEpsilonMs} ms)`);
  const ttl = run.ttl;
  const j = ttl.judged;
  const rules = `${j.expiredRule} judged by the expired rule, ${j.presentRule} by the present rule`;
  print(`  ${j.keys} keys, ${j.writes} writes, ${j.reads} reads: ${rules}; ${ttl.violations.length} violation(s)`);
  for (const v of ttl.violations.slice(0, 10)) {
    const r = v.read;
    const w = v.write;
    const acked = w?.returnTime === undefined ? "?" : sec(w.returnTime);
    const write = w ? `; write ${w.value} ttl ${w.ttlMs} ms [${sec(w.callTime)} → ${acked}] by ${w.clientName}` : "";
    print(`    ${v.key} [${v.rule}] ${v.why}: read by ${r.clientName} via ${r.node ?? "sdk"} [${sec(r.callTime)} → ${sec(r.returnTime)}]${write}`);
    // Faults during the key's life: a restarted leader may shorten TTLs (a documented limitation), slow links add apply lag.
    const from = v.write?.callTime ?? r.callTime;
    const during = run.faults.filter((f) => f.applied && f.startMs <= r.returnTime && (f.endMs ?? Infinity) >= from);
    const spans = during.map((f) => `${f.detail} [${sec(f.startMs)} → ${f.endMs === undefined ? "?" : sec(f.endMs)}]`);
    if (during.length) print(`      faults during the key's life: ${spans.join("; ")}`);
  }
  if (ttl.violations.length) failures.push(`${ttl.violations.length} TTL violation(s) (${[...new Set(ttl.violations.map((v) => v.rule))].join(", ")})`);

  print("\n== acknowledged writes and replicas (after healing)");
  const ack = run.acknowledged;
  print(`  ${ack.checked} keys read back (${run.unread.length} unreadable): ${ack.problems.length} problem(s)`);
  for (const p of ack.problems.slice(0, 10)) print(`    ${p.key}: ${p.what}`);
  if (ack.problems.length) failures.push(`${ack.problems.length} key(s) lost an acknowledged write or applied one twice`);
  if (run.unread.length) failures.push(`${run.unread.length} key(s) could not be read back after healing`);
  failures.push(...printReplicas(run.replicas, print));
  const rep = run.replicas;
  print(`  evictions: ${rep.evictions} (must be 0); expirations: ${rep.expirations} (summed over replicas)`);
  if (rep.evictions !== 0) failures.push(`${rep.evictions} eviction(s): the bounds were reached, so lost keys cannot be told from evicted ones`);

  failures.push(...printWatch(run.watch, print));
  failures.push(...printMembership(run.membership, print));

  print("\n== processes");
  const h = run.health;
  if (h.exits.length === 0) print("  no node exited except by the nemesis");
  for (const e of h.exits) {
    print(`  ${e.id} (pid ${e.pid}) exited at ${sec(e.atMs)} s: code ${e.code}, signal ${e.signal}; log ${e.log}`);
    const tail = e.stderr.trim().split("\n").slice(-20).join("\n      ");
    if (tail) print(`      ${tail}`);
  }
  if (h.exits.length) failures.push(`${h.exits.length} node exit(s) not caused by the nemesis`);
  for (const f of h.startFailures) print(`  ${f.id} failed to start at ${sec(f.atMs)} s: ${f.error.split("\n").slice(0, 6).join(" | ")}`);
  if (h.startFailures.length) failures.push(`${h.startFailures.length} node start(s) failed`);
  if (h.crashes.length > 0) {
    const lost = h.crashes.reduce((n, c) => n + c.bytesLost, 0);
    const restored = h.crashes.reduce((n, c) => n + c.filesRestored, 0);
    const torn = h.crashes.filter((c) => c.torn.length > 0).length;
    print(`  power losses: ${h.crashes.length}, ${lost} unsynced bytes lost, ${torn} with a torn or kept tail, ${restored} file(s) given back their old name`);
  }
  for (const f of h.crashFailures)
    print(`  ${f.id}: a power loss at ${sec(f.atMs)} s did not happen as one (${f.detail}): ${f.stderr.split("\n").slice(-4).join(" | ")}`);
  if (h.crashFailures.length) failures.push(`${h.crashFailures.length} power loss(es) did not happen as one`);
  print(`  RSS, second half of the run (median → end, must end ≤ ${run.rssRatioMax}× the median):`);
  for (const r of h.rss) {
    if (!r.judged) print(`    ${r.id}: not judged: ${r.note}`);
    else {
      const detail = `×${r.ratio.toFixed(2)}, max ${mib(r.maxBytes)}, ${r.samples} samples`;
      print(`    ${r.id}: ${mib(r.medianBytes)} → ${mib(r.endBytes)} (${detail})${r.ok ? "" : "  ← above the bound"}`);
    }
  }
  const grown = h.rss.filter((r) => r.judged && !r.ok);
  if (grown.length) failures.push(`RSS ended above ${run.rssRatioMax}× its median on ${grown.map((r) => r.id).join(", ")}`);
  print("  CPU (share of one core while running; 2 cores are shared by everything):");
  for (const c of run.cpu) {
    const lives = c.incarnations > 1 ? `, ${c.incarnations} incarnations` : "";
    print(`    ${c.name.padEnd(36)} ${(c.share * 100).toFixed(1).padStart(5)}%  (${c.cpuSeconds.toFixed(1)} s over ${c.ranSeconds.toFixed(0)} s${lives})`);
  }
  if (!run.recovered) failures.push("no operation succeeded after healing");

  print("");
  if (failures.length) {
    print(`FAIL (seed ${run.seed}): ${failures.join("; ")}`);
    print(`replay: ${run.replay}`);
  } else print(`PASS (seed ${run.seed})`);
  return failures;
}

/** The replica comparison's lines; returns its failures. */
function printReplicas(rep, print) {
  const failures = [];
  const digests = rep.agreed ? `equal on all ${rep.shards} shards` : `${rep.differing.length} shard(s) differ`;
  const silent = rep.silent.length ? `; no Stats from ${rep.silent.join(", ")}` : "";
  const strays = rep.strays.length ? `; ${rep.strays.length} stray replica(s) not compared (${rep.strays.slice(0, 4).join(", ")})` : "";
  print(`  replica digests (every replica the final topology names): ${digests} (${rep.rounds} round(s) of Stats${silent}${strays})`);
  for (const d of rep.differing.slice(0, 5)) {
    print(`    shard ${d.shard}: ${d.replicas.map((r) => `${r.node} applied ${r.applied} keys ${r.keys} digest ${shortDigest(r.digest)}`).join("; ")}`);
  }
  if (rep.missing.length) print(`    replicas that reported nothing: ${rep.missing.slice(0, 8).join(", ")}${rep.missing.length > 8 ? ", ..." : ""}`);
  for (const u of rep.unsettled.slice(0, 5)) {
    print(`    shard ${u.shard} unsettled: leader ${u.leader ?? "none"}, voters ${u.voters.join(",") || "none"}, learners ${u.learners.join(",") || "none"}`);
  }
  if (rep.agreed) return failures;
  if (rep.differing.length) failures.push(`replica digests differ on ${rep.differing.length} shard(s)`);
  if (rep.missing.length) failures.push(`${rep.missing.length} replica(s) of the final topology reported nothing`);
  if (rep.unsettled.length) failures.push(`${rep.unsettled.length} shard(s) did not settle (a leader, the replica count, no learner)`);
  if (rep.silent.length) failures.push(`no Stats from ${rep.silent.join(", ")}`);
  if (failures.length === 0) failures.push("the replicas could not be compared");
  return failures;
}

/** The watch check's lines (when the run had watchers); returns its failures. */
function printWatch(watch, print) {
  if (!watch || watch.watchers.length === 0) return [];
  const waited = `${watch.caughtUp ? "caught up" : "not caught up"} after ${(watch.waitedMs / 1000).toFixed(1)} s`;
  print(`\n== watch (${watch.watchers.length} watcher(s) of every key, with values; ${waited})`);
  const w = watch.writes;
  print(`  writes: ${w.acknowledged} acknowledged, ${w.indeterminate} of unknown outcome, ${w.notApplied} rejected or not applied`);
  print(`  final reads: ${watch.keys} keys${watch.unread.length ? `, ${watch.unread.length} unreadable` : ""}`);
  const heads = ["events", "put", "delete", "expire", "evict", "reconnects", "order", "missing", "duplicated", "unexpected", "final"];
  print(`  ${"watcher".padEnd(14)}${heads.map((h) => h.padStart(11)).join("")}`);
  for (const r of watch.watchers) {
    const cells = [
      r.events,
      r.types.put,
      r.types.delete,
      r.types.expire,
      r.types.evict,
      r.reconnects,
      ...["order", "missing", "duplicated", "unexpected", "final"].map((k) => r.counts[k]),
    ];
    print(`  ${r.name.padEnd(14)}${cells.map((c) => String(c).padStart(11)).join("")}`);
  }
  for (const r of watch.watchers) printWatcherNotes(r, print);
  return watch.failures;
}

/** One watcher's errors, compacted answers, end and first problems. */
function printWatcherNotes(r, print) {
  const errors = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length) print(`  ${r.name} streams ended by: ${errors.map(([c, n]) => `${c} ×${n}`).join(", ")}`);
  if (r.foreign) print(`  ${r.name}: ${r.foreign} event(s) of keys the workload does not write (not judged)`);
  for (const c of r.compacted.slice(0, 5)) {
    print(`  ${r.name}: compacted at ${sec(c.atMs)} s via ${c.node}: shard ${c.shard} holds changes after index ${c.oldestIndex} only`);
  }
  if (r.ended) print(`  ${r.name} ended at ${sec(r.ended.atMs)} s: ${r.ended.reason}: ${r.ended.detail} (missing and final not judged)`);
  for (const p of r.problems.slice(0, 10)) print(`    ${r.name} ${p.kind} ${p.key}: ${p.what}`);
  if (r.problems.length > 10) print(`    ${r.name}: ... ${r.problems.length - 10} more problem(s)`);
}

/** The membership check's lines (when nodes joined or left); returns its failures. */
function printMembership(membership, print) {
  if (membership.joined.length === 0 && membership.removed.length === 0 && membership.problems.length === 0) return [];
  print("\n== membership (after healing)");
  const at = (ms) => (ms === undefined ? "never" : `${sec(ms)} s`);
  for (const j of membership.joined)
    print(`  ${j.id} joined: a member at ${at(j.memberAtMs)}${j.removedAtMs === undefined ? "" : `, removed at ${at(j.removedAtMs)}`}`);
  for (const r of membership.removed) print(`  ${r.id} asked to leave at ${at(r.askedAtMs)}: stopped as removed at ${at(r.removedAtMs)}`);
  print(`  final members: ${membership.members.join(", ") || "none reported"}`);
  for (const p of membership.problems) print(`    ${p}`);
  return membership.problems.length ? [`membership did not settle: ${membership.problems.slice(0, 3).join("; ")}`] : [];
}

/** The report as JSON-safe data (bigints as strings). */
export function reportJson(run, failures) {
  const data = {
    seed: run.seed,
    nodes: run.nodes,
    durationMs: run.durationMs,
    schedule: run.schedule ?? null,
    nemeses: run.nemeses,
    replay: run.replay,
    verdict: failures.length ? "fail" : "pass",
    failures,
    operations: Object.fromEntries([...run.tally].map(([k, v]) => [k, Object.fromEntries(v)])),
    faults: run.faults,
    transfers: { ...run.transfers, failed: Object.fromEntries(run.transfers.failed) },
    links: run.links,
    latency: run.latency,
    keys: run.linearizability.map((r) => ({
      key: r.key,
      cls: r.cls,
      verdict: r.verdict,
      operations: r.operations,
      indeterminate: r.indeterminate,
      checkMs: Math.round(r.ms),
    })),
    ttl: { judged: run.ttl.judged, violations: run.ttl.violations.length },
    acknowledged: run.acknowledged,
    watch: run.watch && {
      writes: run.watch.writes,
      keys: run.watch.keys,
      unread: run.watch.unread,
      waitedMs: Math.round(run.watch.waitedMs),
      caughtUp: run.watch.caughtUp,
      watchers: run.watch.watchers.map((r) => ({ ...r, problems: r.problems.slice(0, 100), problemCount: r.problems.length })),
    },
    replicas: {
      agreed: run.replicas.agreed,
      shards: run.replicas.shards,
      differing: run.replicas.differing.map((d) => d.shard),
      evictions: run.replicas.evictions,
      missing: run.replicas.missing,
      unsettled: run.replicas.unsettled.map((u) => u.shard),
    },
    membership: run.membership,
    exits: run.health.exits.map((e) => ({ id: e.id, pid: e.pid, code: e.code, signal: e.signal, atMs: e.atMs, log: e.log })),
    rss: run.health.rss,
    crashes: run.health.crashes,
    crashFailures: run.health.crashFailures.map((f) => ({ id: f.id, atMs: f.atMs, detail: f.detail })),
    cpu: run.cpu,
  };
  return JSON.stringify(data, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** A digest (index:store hash:sessions hash) with each hash cut to 8 characters: enough to tell replicas apart. */
function shortDigest(digest) {
  return String(digest)
    .split(":")
    .map((part, i) => (i === 0 ? part : part.slice(0, 8)))
    .join(":");
}
