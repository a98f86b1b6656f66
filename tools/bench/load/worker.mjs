// One load-generating process: `concurrency` request loops over keep-alive HTTP/1.1
// connections for `durationMs`, recording latencies. Request bodies are prepared up
// front so the generator spends its time on I/O, not encoding.
import http from "node:http";

// The run's parameters arrive as the first IPC message (request bodies are too large for argv).
const { targets, concurrency, durationMs, bodies, path, contentType, warmupMs } = await new Promise((resolve) => process.once("message", resolve));
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const payloads = bodies.map((b) => Buffer.from(b, "base64"));
const latenciesUs = [];
let ok = 0;
let failed = 0;
const statuses = {};
const start = performance.now();
const warmEnd = start + warmupMs;
const end = warmEnd + durationMs;

function send(target, body) {
  return new Promise((resolve) => {
    const url = new URL(path, target);
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": contentType, "content-length": body.length },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

async function loop(n) {
  let i = n;
  while (performance.now() < end) {
    const t0 = performance.now();
    const status = await send(targets[i % targets.length], payloads[i % payloads.length]);
    const t1 = performance.now();
    i += concurrency;
    if (t0 < warmEnd) continue;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 200) {
      ok++;
      latenciesUs.push(Math.round((t1 - t0) * 1000));
    } else failed++;
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, n) => loop(n)));
agent.destroy();
process.send({ ok, failed, statuses, latenciesUs, seconds: durationMs / 1000 });
