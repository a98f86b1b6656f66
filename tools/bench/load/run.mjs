// Load generator: N worker processes × C concurrent requests against distcache nodes
// or a peer (etcd's JSON gateway). Prints ops/s and latency percentiles as JSON.
//
//   node tools/bench/load/run.mjs --target http://127.0.0.1:7301 [--target ...]
//        --op set|get|etcd-put|etcd-get --workers 2 --concurrency 32 --seconds 10
import { fork } from "node:child_process";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { bodiesFor } from "./bodies.mjs";

export async function runLoad(options) {
  const { path, contentType, bodies } = bodiesFor(options.op, options.keys, options.valueBytes, options.keyFilter);
  const perWorker = Math.ceil(options.concurrency / options.workers);
  const results = await Promise.all(
    Array.from(
      { length: options.workers },
      (_, w) =>
        new Promise((resolve, reject) => {
          const child = fork(fileURLToPath(new URL("./worker.mjs", import.meta.url)));
          child.send({
            targets: options.targets,
            concurrency: perWorker,
            durationMs: options.seconds * 1000,
            warmupMs: options.warmupSeconds * 1000,
            bodies: bodies
              .slice(w)
              .filter((_, i) => i % options.workers === 0)
              .map((b) => Buffer.from(b).toString("base64")),
            path,
            contentType,
          });
          child.once("message", resolve);
          child.once("error", reject);
          child.once("exit", (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
  const latencies = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] / 1000 : NaN);
  const ok = results.reduce((a, r) => a + r.ok, 0);
  const statuses = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    op: options.op,
    concurrency: perWorker * options.workers,
    opsPerSecond: Math.round(ok / options.seconds),
    failed: results.reduce((a, r) => a + r.failed, 0),
    statuses,
    latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.length ? latencies.at(-1) / 1000 : NaN },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      target: { type: "string", multiple: true, default: ["http://127.0.0.1:7301"] },
      op: { type: "string", default: "set" },
      workers: { type: "string", default: "2" },
      concurrency: { type: "string", default: "32" },
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "1" },
      keys: { type: "string", default: "10000" },
      "value-bytes": { type: "string", default: "100" },
    },
  });

  const result = await runLoad({
    targets: values.target,
    op: values.op,
    workers: Number(values.workers),
    concurrency: Number(values.concurrency),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    keys: Number(values.keys),
    valueBytes: Number(values["value-bytes"]),
  });
  console.log(JSON.stringify(result));
}
