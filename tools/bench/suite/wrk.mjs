// The independent generator: wrk (Debian's package) posting JSON, with its own latency
// percentiles. distcache gets Connect JSON (all to one node, which forwards what it does
// not lead); etcd gets its JSON gateway (/v3/kv/put, /v3/kv/range).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readProcStat } from "../../chaos/proc-stats.mjs";
import { keyName } from "./generator/keys.mjs";

export const WRK = "/usr/bin/wrk";
export const wrkMissing = () => (existsSync(WRK) ? undefined : `${WRK} not found: apt-get install wrk`);

const b64 = (s) => Buffer.from(s).toString("base64");

/**
 * The path and JSON bodies of an operation for a target, one body per key. Reads are
 * linearizable unless `consistency` is "eventual" (distcache's EVENTUAL, etcd's
 * serializable range). The node:http ceiling answers any POST: it gets distcache's bodies.
 */
export function wrkRequests(target, mix, keys, valueBytes, consistency = "strong") {
  const value = "x".repeat(valueBytes);
  const names = Array.from({ length: keys }, (_, i) => keyName(i));
  if (target === "distcache" || target === "ceiling-http") {
    const level = consistency === "eventual" ? "CONSISTENCY_EVENTUAL" : "CONSISTENCY_STRONG";
    return mix === "write"
      ? { path: "/distcache.v1.CacheService/Set", bodies: names.map((key) => JSON.stringify({ key, text: value })) }
      : { path: "/distcache.v1.CacheService/Get", bodies: names.map((key) => JSON.stringify({ key, consistency: level })) };
  }
  if (target === "etcd") {
    return mix === "write"
      ? { path: "/v3/kv/put", bodies: names.map((key) => JSON.stringify({ key: b64(key), value: b64(value) })) }
      : { path: "/v3/kv/range", bodies: names.map((key) => JSON.stringify({ key: b64(key), ...(consistency === "eventual" ? { serializable: true } : {}) })) };
  }
  throw new Error(`wrk drives distcache, etcd and the node:http ceiling only, not ${target}`);
}

/**
 * The requests of a wrk run against one distcache node (10,000 keys, 100 B values); a
 * read run first writes every key, so reads find them.
 */
export async function distcacheWrkRequests({ url, op, consistency, connections }) {
  if (op === "read") await runWrk({ url, ...wrkRequests("distcache", "write", 10_000, 100), seconds: 3, connections });
  return wrkRequests("distcache", op, 10_000, 100, consistency);
}

/** A wrk script that posts the bodies in turn, each thread from its own place. */
function script(path, bodies) {
  const quoted = bodies.map((b) => `[==[${b}]==]`).join(",\n");
  return `local bodies = {\n${quoted}\n}
local n = 0
local headers = { ["Content-Type"] = "application/json" }
function setup(thread) thread:set("offset", math.random(#bodies)) end
function init(args) n = tonumber(offset) or 0 end
function request()
  n = n + 1
  return wrk.format("POST", "${path}", headers, bodies[(n % #bodies) + 1])
end
`;
}

const UNIT_US = { us: 1, ms: 1000, s: 1_000_000 };

/** Parses wrk's report: requests per second, errors, and its latency percentiles (µs). */
export function parseWrk(text, seconds) {
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const total = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  const percentile = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(text);
    return m ? Math.round(Number(m[1]) * UNIT_US[m[2]]) : null;
  };
  const failed = non2xx + (socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  return {
    opsPerSecond: total > 0 ? Math.round((total - non2xx) / seconds) : Math.round(rate),
    failed,
    latencyUs: { p50: percentile(50), p90: percentile(90), p99: percentile(99), p999: null, max: null },
  };
}

/** Runs wrk against `url` for `seconds` with `connections` connections on 2 threads. */
export async function runWrk({ url, path, bodies, seconds, connections }) {
  const dir = mkdtempSync(join(tmpdir(), "distcache-wrk-"));
  const file = join(dir, "post.lua");
  writeFileSync(file, script(path, bodies));
  // wrk takes whole seconds.
  const wholeSeconds = Math.max(1, Math.round(seconds));
  try {
    const child = spawn(WRK, ["-t", "2", "-c", String(connections), "-d", `${wholeSeconds}s`, "--latency", "-s", file, url], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (out += chunk));
    let cpu = 0;
    const sampler = setInterval(() => (cpu = readProcStat(child.pid)?.cpuSeconds ?? cpu), 200);
    const code = await new Promise((resolve) => child.on("exit", resolve));
    clearInterval(sampler);
    if (code !== 0) throw new Error(`wrk exited with ${code}: ${out.slice(-400)}`);
    return { ...parseWrk(out, wholeSeconds), seconds: wholeSeconds, generatorCpuSeconds: cpu, output: out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
