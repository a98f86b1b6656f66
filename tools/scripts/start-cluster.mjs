// `npm start`: runs a local 3-node distcache with its data in ./.data, prints the
// endpoints and a curl example, and stops every node it started on Ctrl-C. Starting
// again reuses ./.data (and its peer secret), so the same cluster comes back.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { planCluster, startCluster, stopNode } from "./local-nodes.mjs";

const dataRoot = resolve(process.env.DISTCACHE_DATA ?? ".data");
const count = Number(process.env.DISTCACHE_NODES ?? 3);
const basePort = Number(process.env.DISTCACHE_BASE_PORT ?? 7301);

mkdirSync(dataRoot, { recursive: true });
const secretFile = join(dataRoot, "peer-secret");
if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(24).toString("hex"), { mode: 0o600 });
const plan = await planCluster({
  count,
  clientPorts: Array.from({ length: count }, (_, i) => basePort + i),
  peerPorts: Array.from({ length: count }, (_, i) => basePort + 100 + i),
  secret: readFileSync(secretFile, "utf8").trim(),
});

let nodes;
try {
  nodes = await startCluster(plan, {
    dataRoot,
    logLevel: process.env.DISTCACHE_LOG_LEVEL ?? "info",
    onLog: (id, line) => process.stdout.write(`[${id}] ${line}\n`),
  });
} catch (err) {
  console.error(String(err instanceof Error ? err.message : err));
  process.exit(1);
}

const url = nodes[0].url;
console.log(`
distcache is running: ${nodes.length} nodes, 12 shards, data in ${dataRoot}
${nodes.map((n) => `  ${n.nodeId}  ${n.url}   (pid ${n.pid})`).join("\n")}

Any node accepts any request. Try it:
  curl -s ${url}/distcache.v1.CacheService/Set -H 'content-type: application/json' -d '{"key":"greeting","text":"hello","ttlMs":60000}'
  curl -s ${nodes.at(-1).url}/distcache.v1.CacheService/Get -H 'content-type: application/json' -d '{"key":"greeting"}'
  curl -s ${url}/distcache.v1.CacheService/Stats -H 'content-type: application/json' -d '{}'

Add a node (README, "Growing and shrinking a running cluster"):
  node apps/cache-node/dist/main.js --node-id n${count + 1} --port ${basePort + count} --peer-port ${basePort + 100 + count} \\
    --data-dir ${join(dataRoot, `n${count + 1}`)} --join ${url} --peer-secret-file ${secretFile}

Health: ${url}/healthz   Metrics: ${url}/metrics   Press Ctrl-C to stop.
`);

let stopping = false;
const stopAll = async (signal) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping ${nodes.length} node(s)...`);
  await Promise.all(nodes.map((n) => stopNode(n)));
  process.exit(0);
};
process.on("SIGINT", () => void stopAll("SIGINT"));
process.on("SIGTERM", () => void stopAll("SIGTERM"));
for (const n of nodes) {
  n.child.on("exit", (code, signal) => {
    if (!stopping) console.error(`node ${n.nodeId} exited (code ${code}, signal ${signal}); the others keep serving`);
  });
}
