// Profiles a local 3-node cluster under one load: every node runs with --cpu-prof, the
// bench's generator drives it, and the nodes' profiles are summarized by self time, per
// node and generator worker, by function and by where the code lives (this tree's packages, connect-es,
// protobuf-es, Node's own, garbage collection).
//
//   npm run build && node tools/bench/profile-cluster.mjs [--op write|read] [--driver sdk|connect|wrk]
//       [--consistency strong|eventual] [--seconds 8] [--concurrency 64] [--top 25] [--out-dir DIR] [--no-auto-batch]
//
// --driver connect sends everything to n1 (which forwards what it does not lead), as wrk does;
// --driver wrk is wrk itself (Connect JSON, 64 connections to n1), with no generator profile.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { planCluster, startMember, stopNode } from "../scripts/local-nodes.mjs";
import { runGenerator } from "./suite/generator/run.mjs";
import { distcacheWrkRequests, runWrk } from "./suite/wrk.mjs";
import { printSummary, summarizeProfile } from "./profile-summary.mjs";

const { values } = parseArgs({
  options: {
    op: { type: "string", default: "write" },
    driver: { type: "string", default: "sdk" },
    consistency: { type: "string", default: "strong" },
    seconds: { type: "string", default: "8" },
    concurrency: { type: "string", default: "64" },
    top: { type: "string", default: "25" },
    "out-dir": { type: "string" },
    "no-auto-batch": { type: "boolean", default: false },
  },
});

const outDir = values["out-dir"] ?? mkdtempSync(join(tmpdir(), "distcache-profile-"));
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-profile-data-"));
const nodeDirs = ["n1", "n2", "n3"].map((id) => join(outDir, id));
for (const dir of nodeDirs) mkdirSync(dir, { recursive: true });

const plan = await planCluster({ count: 3 });
// Each node's profile goes to its own directory.
const starting = plan.members.map((member, i) =>
  startMember(plan, member.id, { dataRoot, logLevel: "warn", nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${nodeDirs[i]}`] }),
);
const started = await Promise.allSettled(starting);
const nodes = started.filter((r) => r.status === "fulfilled").map((r) => r.value);
if (nodes.length < started.length) {
  await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
  throw started.find((r) => r.status === "rejected").reason;
}

const urls = nodes.map((n) => n.url);
try {
  await new Promise((r) => setTimeout(r, 1500));
  if (values.driver === "wrk") await profileWrk(urls[0]);
  else await profileGenerator();
} finally {
  await Promise.all(nodes.map((n) => stopNode(n, "SIGTERM")));
  rmSync(dataRoot, { recursive: true, force: true });
}

async function profileGenerator() {
  const driver =
    values.driver === "connect"
      ? { kind: "connect", endpoints: [urls[0]], valueBytes: 100, consistency: values.consistency }
      : { kind: "distcache-sdk", endpoints: urls, valueBytes: 100, consistency: values.consistency, autoBatch: !values["no-auto-batch"] };
  const result = await runGenerator({
    driver,
    workers: 2,
    concurrency: Number(values.concurrency),
    seconds: Number(values.seconds),
    warmupSeconds: 1,
    keys: 10000,
    distribution: "uniform",
    readShare: values.op === "read" ? 1 : 0,
    preload: values.op === "read",
    execArgv: ["--cpu-prof", `--cpu-prof-dir=${join(outDir, "client")}`],
  });
  console.log(
    `${values.op} through ${values.driver}${values["no-auto-batch"] ? " (auto-batching off)" : ""}: ` +
      `${result.opsPerSecond} ops/s, p50 ${result.latencyUs.p50} µs, failed ${result.failed}`,
  );
}

async function profileWrk(url) {
  const connections = Number(values.concurrency);
  const { path, bodies } = await distcacheWrkRequests({ url, op: values.op, consistency: values.consistency, connections });
  const result = await runWrk({ url, path, bodies, seconds: Number(values.seconds), connections });
  console.log(`${values.op} through wrk to n1: ${result.opsPerSecond} requests/s, p50 ${result.latencyUs?.p50 ?? "?"} µs`);
}

for (const [i, dir] of [...nodeDirs, join(outDir, "client")].entries()) {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : [];
  for (const file of files) printSummary(join(dir, file), summarizeProfile(JSON.parse(readFileSync(join(dir, file), "utf8")), Number(values.top)));
  if (files.length === 0) console.log(`${i < 3 ? `n${i + 1}` : "generator"}: no profile written`);
}
