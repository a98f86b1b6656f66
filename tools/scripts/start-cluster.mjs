// `npm start`: runs a local distcache with its data in ./.data, prints the endpoints and
// a curl example, and stops every node it started on Ctrl-C.
import { resolve } from "node:path";
import { startNode, stopNode } from "./local-nodes.mjs";

const dataRoot = resolve(process.env.DISTCACHE_DATA ?? ".data");
const basePort = Number(process.env.DISTCACHE_BASE_PORT ?? 7301);
const ids = ["n1"];

const nodes = [];
try {
  for (const [i, id] of ids.entries()) {
    nodes.push(
      await startNode({
        nodeId: id,
        port: basePort + i,
        dataDir: resolve(dataRoot, id),
        logLevel: process.env.DISTCACHE_LOG_LEVEL ?? "info",
        onLog: (line) => process.stdout.write(`[${id}] ${line}\n`),
      }),
    );
  }
} catch (err) {
  console.error(String(err instanceof Error ? err.message : err));
  await Promise.all(nodes.map((n) => stopNode(n)));
  process.exit(1);
}

const url = nodes[0].url;
console.log(`
distcache is running (data in ${dataRoot}):
${nodes.map((n) => `  ${n.nodeId}  ${n.url}   (pid ${n.pid})`).join("\n")}

Try it:
  curl -s ${url}/distcache.v1.CacheService/Set -H 'content-type: application/json' -d '{"key":"greeting","text":"hello","ttlMs":60000}'
  curl -s ${url}/distcache.v1.CacheService/Get -H 'content-type: application/json' -d '{"key":"greeting"}'
  curl -s ${url}/distcache.v1.CacheService/Stats -H 'content-type: application/json' -d '{}'

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
    if (!stopping) {
      console.error(`node ${n.nodeId} exited (code ${code}, signal ${signal}); stopping the others`);
      void stopAll("exit");
    }
  });
}
