// The watch checker: what each watcher (watchers.mjs) received against the history of
// the workload and the STRONG reads made once the watchers caught up. Per watcher:
//
//   order       positions strictly increase per shard (no event repeated, order kept),
//               and a key's put versions increase
//   missing     an acknowledged set or incr absent from the events (a set matched by key
//               and its unique value, an incr by key and the counter value it returned);
//               fewer deletes of a key than acknowledged deletes that removed it; a
//               counter whose puts step by more than any increment of the workload (an
//               applied increment never delivered)
//   duplicated  a set or an incr value delivered twice
//   unexpected  a value no write wrote, a set that was rejected or proven not applied,
//               more increments or deletes than acknowledged plus of unknown outcome, a
//               removal of a key that was absent, an acknowledged set delivered with
//               another version than it returned
//   final       each key's state after its last event up to the position of its final
//               STRONG read (a put: present with that value; a delete, expire or evict, or
//               no event: absent) against that read, once the watcher's resume token
//               reached the read's position; a TTL key read absent but still present
//               there (expiry is judged by time, the expire event comes when the shard
//               removes the key) must have its expire event later (it follows the TTL by
//               about a second, docs/design.md, Watch)
//
// The workload's keys are fresh names, first written after every watcher held a position
// for every shard, so each watcher sees every change of every key. Keys not in the history
// (written by a schedule itself) are counted, not judged. A watcher that ended before the
// end of the run (WatchCompactedError, for example) fails the check, and its missing and
// final problems are not judged.

/** Whether position a comes before position b (index is a bigint). */
export function positionBefore(a, b) {
  const ai = BigInt(a.index);
  const bi = BigInt(b.index);
  return ai !== bi ? ai < bi : a.ordinal < b.ordinal;
}

const describeOp = (o) => {
  const ret = o.returnTime === undefined ? "?" : (o.returnTime / 1000).toFixed(3);
  const what = o.kind === "set" ? `set ${o.value}${o.ttlMs ? ` ttl ${o.ttlMs}` : ""}` : o.kind === "incr" ? `incr ${o.delta}` : o.kind;
  return `${what} by ${o.clientName} via ${o.node ?? "sdk"} [${(o.callTime / 1000).toFixed(3)} → ${ret}] ${o.outcome}`;
};

/**
 * What the history says each key's events must be: per key its class, its sets by value,
 * its acknowledged incr values and the bounds on its increments and deletes.
 * @param {import("./workload.mjs").History} history
 */
export function watchExpectations(history) {
  const keys = new Map();
  for (const k of history.keys.values()) {
    const e = {
      key: k.key,
      cls: k.cls,
      sets: new Map(),
      incrOk: new Map(),
      incrs: { ok: 0, maybe: 0 },
      deltas: new Set(),
      deletes: { ok: 0, maybe: 0 },
      first: Infinity,
    };
    for (const o of k.ops) {
      if (o.clientKind === "final" || o.kind === "get") continue;
      e.first = Math.min(e.first, o.callTime);
      if (o.kind === "set") e.sets.set(o.value, o);
      else if (o.kind === "incr") {
        e.deltas.add(BigInt(o.delta));
        if (o.outcome === "ok") {
          e.incrs.ok++;
          e.incrOk.set(String(o.output), o);
        } else if (o.outcome === "indeterminate") e.incrs.maybe++;
      } else if (o.kind === "delete") {
        if (o.outcome === "ok" && o.output?.deleted === true) e.deletes.ok++;
        else if (o.outcome === "indeterminate") e.deletes.maybe++;
      }
    }
    keys.set(k.key, e);
  }
  return keys;
}

/** A watcher's events by key, in the order received. */
function eventsByKey(events) {
  const byKey = new Map();
  for (const e of events) {
    const list = byKey.get(e.key) ?? [];
    list.push(e);
    byKey.set(e.key, list);
  }
  return byKey;
}

/** One event, short: "put v12 (version 45) at 3:120.0". */
export function describeEvent(e) {
  const value = e.type === "put" ? ` ${e.text}${e.version ? ` (version ${e.version})` : ""}` : "";
  return `${e.type}${value} at ${e.shard}:${e.index}.${e.ordinal}`;
}

/** Positions that do not grow per shard, in the order received. */
function orderProblems(events) {
  const last = new Map();
  const problems = [];
  for (const e of events) {
    const prev = last.get(e.shard);
    if (prev && !positionBefore(prev, e)) {
      problems.push({ kind: "order", key: e.key, what: `shard ${e.shard}: ${describeEvent(e)} received after ${describeEvent(prev)}` });
    }
    last.set(e.shard, e);
  }
  return problems;
}

/** A key's events as a state machine: a removal of an absent key, and put versions that do not grow. */
function stateProblems(key, list) {
  const problems = [];
  let present = false;
  let version = -1n;
  for (const e of list) {
    if (e.type === "put") {
      if (BigInt(e.version) <= version) problems.push({ kind: "order", key, what: `${describeEvent(e)} after version ${version}` });
      version = BigInt(e.version);
      present = true;
    } else {
      if (!present) problems.push({ kind: "unexpected", key, what: `${describeEvent(e)} of a key that was absent` });
      present = false;
    }
  }
  return problems;
}

/** Sets (register and TTL keys): each acknowledged exactly once, with its version; others at most once, or never. */
function setProblems(exp, puts, judgeMissing) {
  const problems = [];
  const byText = new Map();
  for (const e of puts) byText.set(e.text, [...(byText.get(e.text) ?? []), e]);
  const key = exp.key;
  for (const [text, seen] of byText) {
    const w = exp.sets.get(text);
    if (!w) problems.push({ kind: "unexpected", key, what: `put ${JSON.stringify(text)}, which no write wrote (${seen.map(describeEvent).join(", ")})` });
    else if (w.outcome === "rejected" || w.outcome === "notApplied") {
      problems.push({ kind: "unexpected", key, what: `${describeOp(w)} (${w.code ?? ""}), yet ${describeEvent(seen[0])}` });
    } else if (seen.length > 1)
      problems.push({ kind: "duplicated", key, what: `${describeOp(w)} delivered ${seen.length} times: ${seen.map(describeEvent).join(", ")}` });
    if (w?.outcome === "ok" && seen.some((e) => BigInt(e.version) !== BigInt(w.output.version))) {
      problems.push({ kind: "unexpected", key, what: `${describeOp(w)} returned version ${w.output.version}, delivered as ${describeEvent(seen[0])}` });
    }
  }
  if (!judgeMissing) return problems;
  for (const w of exp.sets.values()) {
    if (w.outcome === "ok" && !byText.has(w.value))
      problems.push({ kind: "missing", key, what: `${describeOp(w)} (version ${w.output.version}) never delivered` });
  }
  return problems;
}

/** Counter keys: each acknowledged value exactly once, no more puts than increments that may have applied, steps of the workload's deltas. */
function counterProblems(exp, list, judgeMissing) {
  const problems = [];
  const key = exp.key;
  const puts = list.filter((e) => e.type === "put");
  const seen = new Map();
  let previous = 0n;
  for (const e of list) {
    if (e.type !== "put") {
      previous = 0n;
      continue;
    }
    seen.set(e.text, (seen.get(e.text) ?? 0) + 1);
    let value;
    try {
      value = BigInt(e.text);
    } catch {
      problems.push({ kind: "unexpected", key, what: `${describeEvent(e)} is not a counter value` });
      continue;
    }
    if (judgeMissing && !exp.deltas.has(value - previous)) {
      const deltas = [...exp.deltas].join(", ");
      problems.push({
        kind: "missing",
        key,
        what: `${describeEvent(e)} follows ${previous}: a step of ${value - previous}, not an increment (${deltas}) applied`,
      });
    }
    previous = value;
  }
  for (const [text, n] of seen) if (n > 1) problems.push({ kind: "duplicated", key, what: `counter value ${text} delivered ${n} times` });
  if (puts.length > exp.incrs.ok + exp.incrs.maybe) {
    problems.push({ kind: "unexpected", key, what: `${puts.length} puts, above ${exp.incrs.ok} acknowledged + ${exp.incrs.maybe} unknown increments` });
  }
  if (judgeMissing) {
    for (const [value, o] of exp.incrOk) if (!seen.has(value)) problems.push({ kind: "missing", key, what: `${describeOp(o)} → ${value} never delivered` });
  }
  return problems;
}

/** Deletes of a register key: at least those acknowledged as removing it, at most those plus the ones of unknown outcome. */
function deleteProblems(exp, list, judgeMissing) {
  const n = list.filter((e) => e.type === "delete").length;
  const { ok, maybe } = exp.deletes;
  if (judgeMissing && n < ok) return [{ kind: "missing", key: exp.key, what: `${n} delete events, below the ${ok} deletes acknowledged as removing it` }];
  if (n > ok + maybe) return [{ kind: "unexpected", key: exp.key, what: `${n} delete events, above ${ok} acknowledged + ${maybe} of unknown outcome` }];
  return [];
}

/** The problems of one key's events (a key of the history). */
function keyProblems(exp, list, judgeMissing) {
  const problems = stateProblems(exp.key, list);
  if (exp.cls === "counter") return [...problems, ...counterProblems(exp, list, judgeMissing)];
  problems.push(
    ...setProblems(
      exp,
      list.filter((e) => e.type === "put"),
      judgeMissing,
    ),
  );
  if (exp.cls === "register") problems.push(...deleteProblems(exp, list, judgeMissing));
  return problems;
}

/** The watcher's state of a key after its events up to `position` (all of them without one): { found, text, version, last }. */
function stateAt(list, position) {
  const upTo = position ? (list ?? []).filter((e) => !positionBefore(position, e)) : (list ?? []);
  const last = upTo.at(-1);
  if (!last || last.type !== "put") return { found: false, last };
  return { found: true, text: last.text, version: BigInt(last.version), last };
}

/** Whether the resume token has delivered the read's position. */
function reached(resume, position) {
  if (!position) return true;
  const p = resume.find((r) => r.shard === position.shard);
  return p !== undefined && !positionBefore(p, position);
}

/**
 * The state of one key at the read's position against the read; undefined when they
 * agree. A read judges expiry by time, while the expire event comes when the shard
 * removes the key: a TTL key read absent may still be present at the read's position, and
 * then its expire event must follow.
 */
function finalProblem(exp, list, read, resume) {
  const key = exp.key;
  if (!reached(resume, read.position)) {
    const p = read.position;
    const at = resume.find((r) => r.shard === p.shard);
    return {
      kind: "final",
      key,
      what: `the watch had not reached the read's position ${p.shard}:${p.index} (at ${at ? `${at.index}.${at.ordinal}` : "nothing"})`,
    };
  }
  const s = stateAt(list, read.position);
  const readText = read.found ? `${JSON.stringify(read.text)} (version ${read.version})` : "absent";
  const lastText = s.last ? describeEvent(s.last) : "no event";
  if (read.found && (!s.found || s.text !== read.text || s.version !== BigInt(read.version))) {
    return { kind: "final", key, what: `read ${readText}, but the last event is ${lastText}` };
  }
  if (!read.found && s.found) {
    const ttlMs = exp.sets.get(s.text)?.ttlMs;
    if (ttlMs && !stateAt(list, undefined).found) return undefined;
    const why = ttlMs ? `, written with a TTL of ${ttlMs} ms, and no expire event followed` : "";
    return { kind: "final", key, what: `read absent, but the last event up to the read is ${lastText}${why}` };
  }
  return undefined;
}

/**
 * Every problem of one watcher. `judgeMissing` false (a watcher that ended) leaves out
 * missing and final problems.
 * @param {Map<string, any>} expected  watchExpectations(history)
 * @param {Map<string, any>} finals    key → last read { found, text, version, position }
 */
export function watcherProblems(expected, watcher, finals, judgeMissing = !watcher.ended) {
  const problems = orderProblems(watcher.events);
  const byKey = eventsByKey(watcher.events);
  let foreign = 0;
  for (const [key, list] of byKey) {
    const exp = expected.get(key);
    if (!exp) foreign += list.length;
    else if (exp.first >= (watcher.readyAtMs ?? Infinity)) problems.push(...keyProblems(exp, list, judgeMissing));
  }
  for (const exp of expected.values()) {
    if (!judgeMissing || byKey.has(exp.key) || exp.first < (watcher.readyAtMs ?? Infinity)) continue;
    problems.push(...keyProblems(exp, [], true));
  }
  if (judgeMissing) {
    for (const [key, read] of finals) {
      const exp = expected.get(key);
      if (!exp || exp.first < (watcher.readyAtMs ?? Infinity)) continue;
      const p = finalProblem(exp, byKey.get(key), read, watcher.resume);
      if (p) problems.push(p);
    }
  }
  return { problems, foreign };
}

/** The keys on which a watcher has not caught up yet: missing writes or a final state that disagrees. */
export function pendingKeys(expected, watcher, finals) {
  const { problems } = watcherProblems(expected, watcher, finals, true);
  return [...new Set(problems.filter((p) => p.kind === "missing" || p.kind === "final").map((p) => p.key))];
}

const KINDS = ["order", "missing", "duplicated", "unexpected", "final"];

/**
 * The watch check over every watcher: per watcher its counts and problems, and the
 * failures for the verdict.
 * @param {import("./workload.mjs").History} history
 * @param {any[]} watchers  snapshots (watchers.mjs)
 * @param {{ finals: Map<string, any>, unread: string[], waitedMs: number, caughtUp: boolean }} settled
 */
export function checkWatch(history, watchers, settled) {
  const expected = watchExpectations(history);
  const failures = [];
  const results = watchers.map((w) => {
    const { problems, foreign } = watcherProblems(expected, w, settled.finals);
    const counts = Object.fromEntries(KINDS.map((k) => [k, problems.filter((p) => p.kind === k).length]));
    const types = { put: 0, delete: 0, expire: 0, evict: 0 };
    for (const e of w.events) types[e.type] = (types[e.type] ?? 0) + 1;
    const bad = KINDS.filter((k) => counts[k] > 0).map((k) => `${counts[k]} ${k}`);
    if (w.ended) failures.push(`watcher ${w.name} ended early (${w.ended.reason}: ${w.ended.detail})`);
    if (bad.length) failures.push(`watcher ${w.name}: ${bad.join(", ")}`);
    const errors = Object.fromEntries(w.errors);
    return {
      name: w.name,
      kind: w.kind,
      events: w.events.length,
      types,
      reconnects: w.reconnects,
      errors,
      compacted: w.compacted,
      ended: w.ended,
      foreign,
      counts,
      problems,
    };
  });
  if (watchers.length > 0 && settled.unread.length) failures.push(`${settled.unread.length} key(s) could not be read for the watch check`);
  const writes = { acknowledged: 0, indeterminate: 0, notApplied: 0 };
  for (const e of history.entries()) {
    if (e.clientKind === "final" || e.kind === "get") continue;
    if (e.outcome === "ok") writes.acknowledged++;
    else if (e.outcome === "indeterminate") writes.indeterminate++;
    else if (e.outcome === "notApplied" || e.outcome === "rejected") writes.notApplied++;
  }
  return { watchers: results, writes, keys: settled.finals.size, unread: settled.unread, waitedMs: settled.waitedMs, caughtUp: settled.caughtUp, failures };
}
