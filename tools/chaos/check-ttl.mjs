// The TTL checker. For a key written with TTL T, called at C and acknowledged at A (all
// times on the harness's monotonic clock), and ε the TTL accuracy bound:
//
//   expired   a read that starts after A + T + ε does not return the write's value
//   present   a read that starts after A and completes before C + T − ε returns the
//             write's value, unless another write of the key may have come between
//   ordered   a read returns only a value some write of the key wrote, never before that
//             write was called, and never once a later write was acknowledged before the
//             read started (a value overwritten does not come back)
//
// Only STRONG reads are judged (the workload's reads are STRONG), and only writes that
// were answered fix A; a write of unknown outcome only ever explains a value read.
// ε comes from docs/decisions.md (Cluster, Time: TTL accuracy bound): a STRONG read stops
// returning a key within read_stamp_lag_ms_max (50 ms) plus the apply lag after T.

/**
 * @param {import("./workload.mjs").History} history
 * @param {{ epsilonMs: number }} options
 */
export function checkTtl(history, options) {
  const eps = options.epsilonMs;
  const violations = [];
  const judged = { keys: 0, reads: 0, expiredRule: 0, presentRule: 0, writes: 0 };
  for (const { key, cls, ops } of history.keys.values()) {
    if (cls !== "ttl") continue;
    judged.keys++;
    const writes = ops.filter((o) => o.kind === "set" && o.outcome !== "notApplied");
    judged.writes += writes.length;
    const acked = writes.filter((w) => w.outcome === "ok");
    const reads = ops.filter((o) => o.kind === "get" && o.outcome === "ok");
    for (const r of reads) {
      judged.reads++;
      const found = r.output.found;
      const w = found ? writes.find((x) => x.value === r.output.value) : undefined;
      const fail = (rule, why, write) => violations.push({ key, rule, why, read: r, write });
      if (found && !w) {
        fail("ordered", `read ${JSON.stringify(r.output.value)}, which no write of the key wrote`);
        continue;
      }
      if (w) {
        if (w.callTime > r.returnTime) fail("ordered", "read a value before its write was called", w);
        const newer = acked.find((x) => x !== w && x.callTime > (w.returnTime ?? Infinity) && x.returnTime < r.callTime);
        if (newer) fail("ordered", `returned a value overwritten by ${newer.value}, acknowledged before the read started`, w);
      }
      for (const x of acked) {
        // The expired rule: this read started after x's A + T + ε.
        if (r.callTime <= x.returnTime + x.ttlMs + eps) continue;
        judged.expiredRule++;
        if (found && r.output.value === x.value) {
          fail("expired", `present ${(r.callTime - (x.returnTime + x.ttlMs)).toFixed(0)} ms after A + T (ε ${eps} ms)`, x);
        }
      }
      // The present rule, for every answered write this read falls inside.
      for (const x of acked) {
        if (!(r.callTime > x.returnTime && r.returnTime < x.callTime + x.ttlMs - eps)) continue;
        // Another write that may have taken effect after x did and before this read.
        const mayFollow = (m) => m.returnTime === undefined || m.outcome !== "ok" || m.returnTime > x.callTime;
        const between = writes.some((m) => m !== x && m.callTime < r.returnTime && mayFollow(m));
        if (between) continue;
        judged.presentRule++;
        if (!found || r.output.value !== x.value) {
          const seen = found ? `read ${JSON.stringify(r.output.value)}` : "absent";
          fail("present", `${seen} ${(x.callTime + x.ttlMs - r.returnTime).toFixed(0)} ms before C + T (ε ${eps} ms)`, x);
        }
      }
    }
  }
  return { violations, judged };
}
