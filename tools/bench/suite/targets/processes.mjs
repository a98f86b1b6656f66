// Starting and stopping the peers' server processes: by PID, and waiting for them to exit.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** Where a Debian package's binary is, or undefined. */
export function binary(path) {
  return existsSync(path) ? path : undefined;
}

/** Spawns a server; its output goes to `log` lines kept for a failure's message. */
export function spawnServer(command, args) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const log = [];
  const keep = (chunk) => {
    log.push(...String(chunk).split("\n").filter(Boolean));
    if (log.length > 50) log.splice(0, log.length - 50);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return { child, pid: child.pid, log };
}

/** Stops a server by PID (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
export function stopServer(server) {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve();
    const timer = setTimeout(() => server.child.kill("SIGKILL"), 5000);
    server.child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    server.child.kill("SIGTERM");
  });
}

/** Polls `check` until it resolves true, or throws after `ms` with `what` and the servers' last lines. */
export async function waitUntil(check, ms, what, servers = []) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (servers.some((s) => s.child.exitCode !== null)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = servers.flatMap((s) => s.log.slice(-5)).join("\n");
  throw new Error(`${what} did not come up within ${ms} ms${tail ? `:\n${tail}` : ""}`);
}
