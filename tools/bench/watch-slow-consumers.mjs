// Memory of a node whose watchers stop reading: one node, W watch streams (prefix, with
// values) whose consumers pause after their first message, then 3,000 Sets of 10 KB under
// the prefix. Reports the node's RSS growth against a run without watchers, and how each
// stalled stream ended (dropped with resource_exhausted, then cut).
//
//   npm run build && node tools/bench/watch-slow-consumers.mjs [--watchers 0,10,50]
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startNode, stopNode } from "../scripts/local-nodes.mjs";

const { values } = parseArgs({ options: { watchers: { type: "string", default: "0,10,50" }, writes: { type: "string", default: "3000" } } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rssMiB(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^distcache_process_process_resident_memory_bytes (\d+)/m.exec(text)?.[1]) / 2 ** 20;
}

/** Opens a Connect streaming JSON watch and pauses its response after the first bytes; resolves with the paused response. */
function stalledWatch(address) {
  const body = Buffer.from(JSON.stringify({ key: "s/", prefix: true, withValues: true }));
  const envelope = Buffer.alloc(5);
  envelope.writeUInt32BE(body.length, 1);
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, method: "POST", agent: false, path: "/distcache.v1.CacheService/Watch", headers: { "content-type": "application/connect+json" } },
      (res) => {
        const stream = { received: 0, tail: "", ended: false, res };
        res.on("data", (d) => {
          stream.received += d.length;
          stream.tail = (stream.tail + d.toString("latin1")).slice(-300);
        });
        res.once("data", () => {
          res.pause();
          resolve(stream);
        });
        res.on("close", () => (stream.ended = true));
        res.on("error", () => (stream.ended = true));
      },
    );
    req.on("error", reject);
    req.end(Buffer.concat([envelope, body]));
  });
}

async function run(watchers) {
  const dataRoot = mkdtempSync(join(tmpdir(), "distcache-slow-watch-"));
  const node = await startNode({ nodeId: "s1", dataDir: join(dataRoot, "s1") });
  try {
    const streams = await Promise.all(Array.from({ length: watchers }, () => stalledWatch(node.address)));
    await sleep(500);
    const before = await rssMiB(node.url);
    const value = "x".repeat(10_000);
    const writes = Number(values.writes);
    for (let i = 0; i < writes; i += 50) {
      const batch = Array.from({ length: Math.min(50, writes - i) }, (_, j) =>
        fetch(`${node.url}/distcache.v1.CacheService/Set`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ key: `s/${i + j}`, text: value }),
        }).then((r) => r.text()),
      );
      await Promise.all(batch);
    }
    await sleep(3000);
    const after = await rssMiB(node.url);
    for (const s of streams) s.res.resume();
    await sleep(2000);
    const dropped = streams.filter((s) => s.ended || /resource_exhausted/.test(s.tail)).length;
    return { watchers, rssBeforeMiB: Math.round(before), rssAfterMiB: Math.round(after), growthMiB: Math.round(after - before), streamsEnded: dropped };
  } finally {
    await stopNode(node, "SIGKILL");
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

const results = [];
for (const w of values.watchers.split(",").map(Number)) {
  const r = await run(w);
  results.push(r);
  console.log(JSON.stringify({ ...r, extraOverNoWatcherMiB: results[0] ? r.growthMiB - results[0].growthMiB : undefined }));
}
