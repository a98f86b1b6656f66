// Summarizes a V8 .cpuprofile (node --cpu-prof) by self time: the top functions, and the
// time by where the code lives. Usable on its own:
//
//   node tools/bench/profile-summary.mjs FILE.cpuprofile [--top 25] [--callers FUNCTION]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** Where a function's code lives, from its script URL. */
export function originOf(url, name) {
  if (name === "(garbage collector)") return "gc";
  if (name === "(idle)" || name === "(program)" || name === "(root)") return name;
  if (!url) return "native";
  if (url.startsWith("node:")) return "node";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const local = /\/(apps\/[^/]+|packages\/[^/]+)\//.exec(url);
  return local ? local[1] : "other";
}

/** Microseconds of self time by profile node id. */
function selfTimes(profile) {
  const selfUs = new Map();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  return selfUs;
}

/**
 * @param {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[],
 *           samples: number[], timeDeltas: number[] }} profile
 */
export function summarizeProfile(profile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = selfTimes(profile);
  const byFunction = new Map();
  const byOrigin = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const name = functionName || "(anonymous)";
    const origin = originOf(url, name);
    totalUs += us;
    if (origin === "(idle)") idleUs += us;
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + us);
    const key = `${name}\u0000${url}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const rows = [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => {
      const [name, where] = key.split("\u0000");
      return { name, where: where.replace(/^file:\/\/.*?\/(apps|packages|node_modules)\//, "$1/"), ms: us / 1000 };
    });
  return {
    totalMs: totalUs / 1000,
    idleShare: totalUs > 0 ? `${((100 * idleUs) / totalUs).toFixed(0)}%` : "-",
    byOrigin: [...byOrigin].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000]),
    top: rows,
  };
}

/** The call paths (up to `depth` callers) that spent self time in functions named `name`, by time. */
export function callersOf(profile, name, depth = 4, top = 8) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const selfUs = selfTimes(profile);
  const paths = new Map();
  for (const [id, us] of selfUs) {
    if (byId.get(id).callFrame.functionName !== name) continue;
    const chain = [];
    for (let at = parentOf.get(id); at !== undefined && chain.length < depth; at = parentOf.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at).callFrame;
      chain.push(`${functionName || "(anonymous)"}@${url.split("/").slice(-2).join("/")}:${lineNumber + 1}`);
    }
    const key = chain.join(" < ");
    paths.set(key, (paths.get(key) ?? 0) + us);
  }
  return [...paths]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([path, us]) => ({ path, ms: us / 1000 }));
}

/** Prints a summary: the time by origin, then the top functions by self time. */
export function printSummary(file, summary) {
  console.log(`\n## ${file}: ${summary.totalMs.toFixed(0)} ms sampled, ${summary.idleShare} idle`);
  console.log("by origin:", summary.byOrigin.map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(", "));
  for (const row of summary.top) console.log(`${row.ms.toFixed(1).padStart(8)} ms  ${row.name}  ${row.where}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" }, callers: { type: "string" } } });
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, "utf8"));
    if (values.callers) for (const row of callersOf(profile, values.callers)) console.log(`${row.ms.toFixed(1).padStart(8)} ms  ${row.path}`);
    else printSummary(file, summarizeProfile(profile, Number(values.top)));
  }
}
