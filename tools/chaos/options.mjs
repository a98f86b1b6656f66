// The harness's command line, and the one command that replays a run.
import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { NEMESES, TARGETED } from "./schedule.mjs";

/**
 * Flags every node gets: bounds the workload never reaches (so nothing is evicted), small
 * snapshot intervals (so logs stay bounded and snapshots run under faults), and a watch
 * history no run's writes fill (so a watcher that resumes is never compacted by the bound).
 */
export const BASE_NODE_ARGS = [
  "--entries-max",
  "1000000",
  "--bytes-max",
  "268435456",
  "--snapshot-entries",
  "2000",
  "--snapshot-bytes",
  "8MiB",
  "--watch-history-events",
  "1000000",
];

const SPEC = {
  nodes: { type: "string", default: "3" },
  "nodes-max": { type: "string" },
  duration: { type: "string" },
  seed: { type: "string" },
  rate: { type: "string", default: "300" },
  nemesis: { type: "string", default: "all" },
  schedule: { type: "string" },
  "node-args": { type: "string", default: "" },
  "node-args-for": { type: "string", multiple: true, default: [] },
  "proxy-clients": { type: "string" },
  "link-faults": { type: "string", default: "proxy" },
  clients: { type: "string" },
  mix: { type: "string" },
  "ops-per-key": { type: "string", default: "250" },
  "register-keys": { type: "string", default: "6" },
  "counter-keys": { type: "string", default: "3" },
  ttls: { type: "string", default: "500,1000,2000,3000" },
  "ttl-epsilon-ms": { type: "string" },
  warmup: { type: "string", default: "3s" },
  heal: { type: "string" },
  "op-timeout-ms": { type: "string", default: "2000" },
  "check-budget-ms": { type: "string", default: "5000" },
  "digest-wait-ms": { type: "string", default: "30000" },
  watchers: { type: "string", default: "sdk=1,raw=1" },
  "watch-wait-ms": { type: "string", default: "20000" },
  "verdict-min": { type: "string", default: "0.99" },
  "rss-ratio-max": { type: "string", default: "1.2" },
  "keep-data": { type: "boolean", default: false },
  "report-json": { type: "string" },
  "log-level": { type: "string", default: "warn" },
  help: { type: "boolean", default: false },
};

export const USAGE = `usage: npm run chaos -- [--nodes 3|5] [--nodes-max N] [--duration 60s|10m] [--seed N] [--rate 300]
         [--nemesis all|none|a,b,c] [--schedule ${Object.keys(TARGETED).join("|")}]
         [--node-args "FLAGS"] [--node-args-for ID=FLAGS ...] [--proxy-clients on|off] [--link-faults proxy|node]
         [--clients sdk=3,raw=3,session=3] [--mix register=45,counter=30,ttl=25] [--ops-per-key 250] [--register-keys 6] [--counter-keys 3]
         [--ttls 500,1000,2000,3000] [--ttl-epsilon-ms MS] [--warmup 3s] [--heal 12s]
         [--op-timeout-ms 2000] [--check-budget-ms 5000] [--digest-wait-ms 30000] [--verdict-min 0.99] [--rss-ratio-max 1.2]
         [--watchers sdk=1,raw=1] [--watch-wait-ms 20000]
         [--keep-data] [--report-json FILE] [--log-level warn]
nemeses: ${NEMESES.join(", ")}
See tools/chaos/README.md.`;

/** "10m", "30s", "1500ms", "90" (seconds) → milliseconds. */
export function parseDuration(text, what) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim());
  if (!m) throw new Error(`${what}: not a duration: ${JSON.stringify(text)} (use e.g. 30s, 10m, 1500ms)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"];
  return Math.round(Number(m[1]) * unit);
}

function positive(text, what, { integer = true, min = 1 } = {}) {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new Error(`${what} must be ${integer ? "an integer" : "a number"} ≥ ${min}, got ${JSON.stringify(text)}`);
  }
  return n;
}

/** Splits flags written as one string ("--testing --testing-bug x") into argv entries. */
export function splitArgs(text) {
  return String(text ?? "")
    .split(/\s+/)
    .filter(Boolean);
}

/** Flags whose value is itself a list of flags ("--node-args '--testing ...'"). */
const FLAG_VALUED = new Set(["--node-args", "--node-args-for"]);

/** parseArgs refuses a value that starts with a dash unless written --flag=value: join those. */
function joinDashValues(argv) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    if (FLAG_VALUED.has(argv[i]) && i + 1 < argv.length) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/** --nodes-max: the most members a run may have at once (by default 2 more than it starts with, at most 9). */
function nodeBudget(text, nodes, schedule) {
  const nodesMax = text === undefined ? nodes + 2 : positive(text, "--nodes-max", { min: nodes });
  if (nodesMax > 9) throw new Error("--nodes-max must be at most 9");
  if (schedule === "membership" && nodesMax <= nodes) throw new Error("--schedule membership adds a node: --nodes-max must be above --nodes");
  return nodesMax;
}

/** --watchers: "sdk=1,raw=1" (a kind not named keeps its 1; either may be 0), or "none". */
function parseWatchers(text) {
  if (text === "none") return { sdk: 0, raw: 0 };
  const counts = { sdk: 1, raw: 1 };
  for (const part of text.split(",")) {
    const [kind, count] = part.split("=");
    if (!(kind in counts)) throw new Error(`--watchers: no such watcher kind ${JSON.stringify(kind)} (sdk, raw)`);
    counts[kind] = positive(count, `--watchers ${kind}`, { min: 0 });
  }
  return counts;
}

/**
 * Parses the command line. Throws on a bad flag (the caller exits 2).
 * @param {string[]} argv
 */
export function parseOptions(argv) {
  const { values, positionals } = parseArgs({ args: joinDashValues(argv), options: SPEC, allowPositionals: true, strict: true });
  if (values.help) return { help: true };
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const nodes = positive(values.nodes, "--nodes");
  if (nodes !== 3 && nodes !== 5) throw new Error("--nodes must be 3 or 5");
  const schedule = values.schedule;
  if (schedule !== undefined && !TARGETED[schedule]) throw new Error(`--schedule must be one of ${Object.keys(TARGETED).join(", ")}`);
  const durationMs = parseDuration(values.duration ?? (schedule ? (TARGETED[schedule].durationDefault ?? "30s") : "60s"), "--duration");
  if (durationMs < 10_000) throw new Error("--duration must be at least 10s");
  const nemeses =
    values.nemesis === "all"
      ? [...NEMESES]
      : values.nemesis === "none"
        ? []
        : values.nemesis
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
  for (const n of nemeses) if (!NEMESES.includes(n)) throw new Error(`--nemesis: no such nemesis ${JSON.stringify(n)} (one of ${NEMESES.join(", ")})`);
  const clientCounts = { sdk: 3, raw: 3, session: 3 };
  let clientsGiven = false;
  if (values.clients) {
    clientsGiven = true;
    for (const part of values.clients.split(",")) {
      const [kind, count] = part.split("=");
      if (!(kind in clientCounts)) throw new Error(`--clients: no such client kind ${JSON.stringify(kind)} (sdk, raw, session)`);
      clientCounts[kind] = positive(count, `--clients ${kind}`, { min: 0 });
    }
  }
  let mix;
  if (values.mix) {
    mix = { register: 0, counter: 0, ttl: 0 };
    for (const part of values.mix.split(",")) {
      const [cls, weight] = part.split("=");
      if (!(cls in mix)) throw new Error(`--mix: no such key class ${JSON.stringify(cls)} (register, counter, ttl)`);
      mix[cls] = positive(weight, `--mix ${cls}`, { integer: false, min: 0 });
    }
    if (mix.register + mix.counter + mix.ttl <= 0) throw new Error("--mix: every weight is 0");
  }
  const argsFor = new Map();
  for (const entry of values["node-args-for"]) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new Error(`--node-args-for must be ID=FLAGS, got ${JSON.stringify(entry)}`);
    argsFor.set(entry.slice(0, eq), splitArgs(entry.slice(eq + 1)));
  }
  const proxyClients = values["proxy-clients"];
  if (proxyClients !== undefined && proxyClients !== "on" && proxyClients !== "off") throw new Error("--proxy-clients must be on or off");
  const linkFaults = values["link-faults"];
  if (linkFaults !== "proxy" && linkFaults !== "node") throw new Error("--link-faults must be proxy or node");
  const watcherCounts = parseWatchers(values.watchers);
  const ttlsMs = values.ttls.split(",").map((t) => positive(t, "--ttls"));
  const healMs = values.heal ? parseDuration(values.heal, "--heal") : Math.min(60_000, Math.max(schedule ? 6000 : 10_000, Math.round(durationMs * 0.2)));
  const warmupMs = parseDuration(values.warmup, "--warmup");
  if (warmupMs + healMs >= durationMs) throw new Error("--warmup and --heal leave no time for faults");
  return {
    help: false,
    raw: values,
    nodes,
    nodesMax: nodeBudget(values["nodes-max"], nodes, schedule),
    durationMs,
    seed: values.seed ?? String(randomInt(1, 2 ** 31)),
    seedGiven: values.seed !== undefined,
    rate: positive(values.rate, "--rate"),
    nemeses,
    schedule,
    nodeArgs: splitArgs(values["node-args"]),
    argsFor,
    proxyClients: proxyClients === undefined ? undefined : proxyClients === "on",
    linkFaults,
    clientCounts,
    clientsGiven,
    mix,
    opsPerKey: positive(values["ops-per-key"], "--ops-per-key"),
    registerKeys: positive(values["register-keys"], "--register-keys"),
    counterKeys: positive(values["counter-keys"], "--counter-keys"),
    ttlsMs,
    ttlEpsilonMs: values["ttl-epsilon-ms"] === undefined ? undefined : positive(values["ttl-epsilon-ms"], "--ttl-epsilon-ms", { min: 0 }),
    warmupMs,
    healMs,
    opTimeoutMs: positive(values["op-timeout-ms"], "--op-timeout-ms"),
    checkBudgetMs: positive(values["check-budget-ms"], "--check-budget-ms"),
    digestWaitMs: positive(values["digest-wait-ms"], "--digest-wait-ms"),
    watcherCounts,
    watchWaitMs: positive(values["watch-wait-ms"], "--watch-wait-ms"),
    verdictMin: positive(values["verdict-min"], "--verdict-min", { integer: false, min: 0 }),
    rssRatioMax: positive(values["rss-ratio-max"], "--rss-ratio-max", { integer: false, min: 1 }),
    keepData: values["keep-data"],
    reportJson: values["report-json"],
    logLevel: values["log-level"],
  };
}

/** The command that replays a run: its seed and every flag it was given. */
export function replayCommand(argv, seed) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith("--") ? a.slice(2).split("=")[0] : undefined;
    if (name === "seed") {
      if (!a.includes("=")) i++;
      continue;
    }
    if (name === "keep-data" || name === "report-json") {
      if (name === "report-json" && !a.includes("=")) i++;
      continue;
    }
    out.push(/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  }
  return `npm run chaos -- ${[...out, "--seed", seed].join(" ")}`;
}
