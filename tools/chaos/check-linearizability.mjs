// Linearizability per key: each register key's history against versionedRegisterModel,
// each counter key's against counterModel (packages/linearizability). Operations that
// proved they took no effect, and failed reads, are left out; a write of unknown outcome
// is indeterminate (it may have taken effect at any time after its call, or never). The
// final STRONG read of every key, after healing, closes each history, so a write lost
// at the end fails the key too.
import { checkOperations, counterModel, versionedRegisterModel } from "@distcache/linearizability";

/** The client id the final reads are recorded under. */
export const FINAL_READER = 1_000_000;

/**
 * A history entry as a checker operation, or undefined when it does not belong in the history.
 * @returns {import("@distcache/linearizability").Operation<any, any> | undefined}
 */
export function toOperation(entry) {
  const determinate = entry.outcome === "ok" || entry.outcome === "rejected";
  if (!determinate && entry.outcome !== "indeterminate") return undefined;
  if (entry.kind === "get" && !determinate) return undefined;
  // `meta` rides along for the report (the checker reads only its own fields).
  const meta = { client: entry.clientName, kind: entry.clientKind, node: entry.node, attempts: entry.attempts, outcome: entry.outcome, code: entry.code };
  const base = { clientId: entry.client, callTime: entry.callTime, returnTime: determinate ? entry.returnTime : undefined, meta };
  if (entry.cls === "register") {
    const set = { kind: "set", value: entry.value, condition: entry.condition ?? { kind: "none" } };
    const input = entry.kind === "get" ? { kind: "get" } : entry.kind === "delete" ? { kind: "delete" } : set;
    return { ...base, input, output: determinate ? entry.output : undefined };
  }
  if (entry.cls === "counter") {
    // An Incr refused as "not a counter" never happens to these keys: it is left to fail the key.
    const input = entry.kind === "incr" ? { kind: "incr", delta: entry.delta } : { kind: "get" };
    const output = determinate ? (entry.outcome === "rejected" ? null : entry.output) : undefined;
    return { ...base, input, output };
  }
  return undefined;
}

/**
 * @param {import("./workload.mjs").History} history
 * @param {{ budgetMs: number }} options
 * @returns {{ key: string, cls: string, verdict: "ok" | "illegal" | "unknown", operations: number, indeterminate: number, ms: number,
 *             failing?: { operations: any[], explanation: string } }[]}
 */
export function checkLinearizability(history, options) {
  const results = [];
  for (const { key, cls, ops } of history.keys.values()) {
    if (cls !== "register" && cls !== "counter") continue;
    const operations = ops.map(toOperation).filter(Boolean);
    if (operations.length === 0) {
      results.push({ key, cls, verdict: "ok", operations: 0, indeterminate: 0, ms: 0 });
      continue;
    }
    const started = performance.now();
    const model = cls === "register" ? versionedRegisterModel : counterModel;
    let result;
    try {
      result = checkOperations(model, operations, { timeBudgetMs: options.budgetMs });
    } catch (err) {
      result = { verdict: "unknown", error: String(err.message ?? err) };
    }
    results.push({
      key,
      cls,
      verdict: result.verdict,
      operations: operations.length,
      indeterminate: operations.filter((o) => o.returnTime === undefined).length,
      ms: performance.now() - started,
      failing: result.failing,
      error: result.error,
    });
  }
  return results;
}
