// After healing: every register and counter key read back (STRONG), acknowledged writes
// checked against what is there, every shard's replicas compared by digest, and the
// store's eviction counters, which must stay at 0 (the bounds are set so that the
// workload never evicts, so every missing value would be a loss).
import { Consistency } from "@distcache/proto";
import { FINAL_READER } from "./check-linearizability.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const decoder = new TextDecoder();

/**
 * Reads every register and counter key with STRONG MGets through the nodes' own ports,
 * and records each read in the key's history (client FINAL_READER), so the
 * linearizability check sees the final state too. Returns the keys it could not read.
 * @param {import("./nodes.mjs").ChaosCluster} cluster
 * @param {import("./workload.mjs").History} history
 */
export async function finalReads(cluster, history, now) {
  const keys = [...history.keys.values()].filter((k) => k.cls === "register" || k.cls === "counter");
  const unread = [];
  for (let i = 0; i < keys.length; i += 100) {
    const batch = keys.slice(i, i + 100);
    let done = false;
    for (let attempt = 0; attempt < 8 && !done; attempt++) {
      const up = [...cluster.members.values()].filter((m) => m.state === "up");
      if (up.length === 0) break;
      const m = up[(i / 100 + attempt) % up.length];
      const callTime = now();
      try {
        const res = await cluster.control.get(m.id).cache.mGet({ keys: batch.map((k) => k.key), consistency: Consistency.STRONG }, { timeoutMs: 5000 });
        const returnTime = now();
        batch.forEach((k, j) => {
          const r = res.results[j];
          const text = r.found ? (r.payload.case === "text" ? r.payload.value : r.payload.case === "value" ? decoder.decode(r.payload.value) : "") : "";
          let output;
          if (k.cls === "register") output = r.found ? { found: true, value: text, version: r.version } : { found: false };
          else {
            try {
              output = r.found ? BigInt(text) : 0n;
            } catch {
              output = null;
            }
          }
          const read = { client: FINAL_READER, clientName: "final", clientKind: "final", cls: k.cls, key: k.key, kind: "get" };
          k.ops.push({ ...read, callTime, returnTime, output, outcome: "ok", attempts: attempt + 1, node: m.id });
          k.final = output;
        });
        done = true;
      } catch {
        await sleep(300 * (attempt + 1));
      }
    }
    if (!done) unread.push(...batch.map((k) => k.key));
  }
  return unread;
}

/**
 * Acknowledged writes against the final reads (finalReads must have run).
 *   register: the value read last must come from a write that no acknowledged write
 *             definitely followed (or the key is absent and such a write is a delete)
 *   counter:  the value is at least the sum of acknowledged increments (none lost) and
 *             at most that plus the increments of unknown outcome (none applied twice)
 * @param {import("./workload.mjs").History} history
 */
export function checkAcknowledged(history) {
  const problems = [];
  let checked = 0;
  for (const k of history.keys.values()) {
    if (k.final === undefined) continue;
    const ops = k.ops.filter((o) => o.clientKind !== "final");
    if (k.cls === "counter") {
      checked++;
      let acked = 0n;
      let unknown = 0n;
      for (const o of ops) {
        if (o.kind !== "incr") continue;
        if (o.outcome === "ok") acked += BigInt(o.delta);
        else if (o.outcome === "indeterminate") unknown += BigInt(o.delta);
      }
      if (k.final === null) problems.push({ key: k.key, what: "the counter holds something that is not a number" });
      else if (k.final < acked) {
        problems.push({ key: k.key, what: `counter is ${k.final}, below the ${acked} acknowledged increments: ${acked - k.final} lost` });
      } else if (k.final > acked + unknown) {
        const what = `counter is ${k.final}, above the ${acked} acknowledged + ${unknown} unknown increments: applied more than once`;
        problems.push({ key: k.key, what });
      }
      continue;
    }
    checked++;
    const mutations = ops.filter((o) => (o.kind === "set" || o.kind === "delete") && (o.outcome === "ok" || o.outcome === "indeterminate"));
    const ackedMutations = mutations.filter((o) => o.outcome === "ok");
    const lastCandidates = mutations.filter((m) => !ackedMutations.some((a) => a !== m && m.outcome === "ok" && a.callTime > m.returnTime));
    if (k.final.found) {
      const w = mutations.find((m) => m.kind === "set" && m.value === k.final.value);
      if (!w) problems.push({ key: k.key, what: `holds ${JSON.stringify(k.final.value)}, which no write that may have applied wrote` });
      else if (!lastCandidates.includes(w)) {
        const later = ackedMutations.find((a) => a.callTime > w.returnTime);
        const overwrite = later.kind === "set" ? `set ${later.value}` : "a delete";
        problems.push({ key: k.key, what: `holds ${JSON.stringify(w.value)}, but ${overwrite} was acknowledged after that write returned: lost` });
      }
    } else if (mutations.length > 0 && !lastCandidates.some((m) => m.kind === "delete")) {
      const last = lastCandidates.find((m) => m.outcome === "ok");
      if (last) problems.push({ key: k.key, what: `absent, but set ${last.value} was acknowledged last (and no delete may have followed): lost` });
    }
  }
  return { checked, problems };
}

/**
 * Every member's Stats, with digests, against the topology (the newest the members
 * report: each shard's voters and learners), retried until every member answers, every
 * shard has `replicas` voters and no learner, each of them reports the shard, and their
 * digests agree, or timeoutMs passes. A replica a node still holds that its group no
 * longer counts (a stray, dropped in time) is listed, not compared.
 * @param {import("./nodes.mjs").ChaosCluster} cluster
 */
export async function compareReplicas(cluster, timeoutMs, replicas = 3) {
  const deadline = performance.now() + timeoutMs;
  let last = { agreed: false, shards: 0, differing: [], evictions: 0, expirations: 0, nodes: 0, missing: [], silent: [], unsettled: [], strays: [] };
  for (let round = 0; performance.now() < deadline; round++) {
    const up = [...cluster.members.values()].filter((m) => m.state === "up");
    const [topology, stats] = await Promise.all([
      cluster.leaders(2000),
      Promise.all(
        up.map((m) =>
          cluster.control
            .get(m.id)
            .cache.stats({ includeDigests: true }, { timeoutMs: 5000 })
            .catch(() => undefined),
        ),
      ),
    ]);
    last = { ...judgeReplicas(topology, stats, up, replicas), rounds: round + 1 };
    if (last.agreed) return last;
    await sleep(500);
  }
  return last;
}

/** One round of compareReplicas: the Stats of `up` (undefined: no answer) against the topology. */
export function judgeReplicas(topology, stats, up, replicas) {
  const reported = new Map();
  let expirations = 0;
  const silent = [];
  stats.forEach((s, i) => {
    if (!s) return silent.push(up[i].id);
    for (const sh of s.shards) {
      const store = { evictions: Number(sh.store?.evictions ?? 0n), keys: Number(sh.store?.keys ?? 0n) };
      reported.set(`${sh.shard}@${s.nodeId}`, { node: s.nodeId, digest: sh.digest, applied: sh.appliedIndex, ...store });
    }
    expirations += Number(s.total?.expirations ?? 0n);
  });
  const differing = [];
  const missing = [];
  const unsettled = [];
  let evictions = 0;
  for (let shard = 0; shard < topology.shardCount; shard++) {
    const t = topology.shards.get(shard);
    const expected = t ? [...t.replicas, ...t.learners] : [];
    if (!t?.leaderId || t.learners.length > 0 || t.replicas.length !== replicas) {
      unsettled.push({ shard, leader: t?.leaderId || undefined, voters: t?.replicas ?? [], learners: t?.learners ?? [] });
    }
    const list = [];
    for (const node of expected) {
      const r = reported.get(`${shard}@${node}`);
      if (r) list.push(r);
      else missing.push(`shard ${shard} on ${node}`);
    }
    if (new Set(list.map((r) => r.digest)).size > 1) differing.push({ shard, replicas: list });
    // Replicas evict the same victims: a shard's count is its replicas' highest.
    evictions += Math.max(0, ...list.map((r) => r.evictions));
  }
  const strays = [...reported.keys()].filter((k) => {
    const [shard, node] = k.split("@");
    const t = topology.shards.get(Number(shard));
    return !t || (!t.replicas.includes(node) && !t.learners.includes(node));
  });
  const agreed = topology.shardCount > 0 && differing.length === 0 && missing.length === 0 && unsettled.length === 0 && silent.length === 0;
  return { agreed, shards: topology.shardCount, differing, evictions, expirations, nodes: up.length - silent.length, missing, silent, unsettled, strays };
}
