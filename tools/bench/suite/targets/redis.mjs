// Redis from Debian's redis-server package: one server (Redis does not replicate
// synchronously), with the append-only file synced before each reply (appendfsync
// always), the closest it comes to a durable write. No RDB snapshots.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { freePorts } from "../../../scripts/local-nodes.mjs";
import { binary, spawnServer, stopServer, waitUntil } from "./processes.mjs";

const REDIS = "/usr/bin/redis-server";

async function info(url, section) {
  const client = createClient({ url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await client.info(section);
  } finally {
    await client.quit();
  }
}

export const redis = {
  name: "redis",
  label: "Redis (1 server, appendfsync always)",
  missing: () => (binary(REDIS) ? undefined : `${REDIS} not found: apt-get install redis-server`),
  async start() {
    const dir = mkdtempSync(join(tmpdir(), "redis-bench-"));
    const [port] = await freePorts(1);
    const server = spawnServer(REDIS, [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
    ]);
    const url = `redis://127.0.0.1:${port}`;
    const stop = async () => {
      await stopServer(server);
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await waitUntil(async () => (await info(url, "server")).includes("redis_version"), 10_000, "redis", [server]);
    } catch (err) {
      await stop();
      throw err;
    }
    return {
      version: execFileSync(REDIS, ["--version"], { encoding: "utf8" }).match(/v=(\S+)/)?.[1] ?? "unknown",
      pids: () => [server.pid],
      driver: () => ({ kind: "redis", endpoints: [url] }),
      // Redis reports no count of its fsyncs: with appendfsync always it syncs once per
      // event-loop turn that wrote, before replying, so null here means "not counted". Its
      // accounting is used_memory.
      counters: async () => ({ fsyncs: null, elections: 0, accountedBytes: Number(/used_memory:(\d+)/.exec(await info(url, "memory"))?.[1] ?? 0) }),
      stop,
    };
  },
};
