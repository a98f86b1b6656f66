// Starts and stops cache-node processes on 127.0.0.1 for `npm start` and for tests.
// Every process is tracked by PID and stopped by PID.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const NODE_MAIN = fileURLToPath(new URL("../../apps/cache-node/dist/main.js", import.meta.url));

/**
 * Spawns one node and resolves once it prints its listening line.
 * @param {{ nodeId: string, port?: number, dataDir: string, args?: string[], logLevel?: string, onLog?: (line: string) => void, startTimeoutMs?: number }} options
 */
export function startNode(options) {
  mkdirSync(options.dataDir, { recursive: true });
  const args = [
    NODE_MAIN,
    "--node-id", options.nodeId,
    "--port", String(options.port ?? 0),
    "--data-dir", options.dataDir,
    "--log-level", options.logLevel ?? "warn",
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr = [];
  child.stderr.on("data", (d) => stderr.push(String(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node ${options.nodeId} did not start within ${options.startTimeoutMs ?? 20000} ms: ${stderr.join("")}`));
    }, options.startTimeoutMs ?? 20000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node ${options.nodeId} exited during start (code ${code}, signal ${signal}): ${stderr.join("")}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      options.onLog?.(line);
      if (!line.includes('"listening"')) return;
      try {
        const parsed = JSON.parse(line);
        if (parsed.msg !== "listening") return;
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ nodeId: options.nodeId, pid: child.pid, address: parsed.address, url: `http://${parsed.address}`, child, stderr });
      } catch {
        // an ordinary log line
      }
    });
  });
}

/** Sends signal to the node's PID and waits for it to exit (SIGKILL after timeoutMs). */
export function stopNode(node, signal = "SIGTERM", timeoutMs = 10000) {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return resolve(node.child.exitCode);
    const timer = setTimeout(() => {
      try {
        process.kill(node.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    node.child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    try {
      process.kill(node.pid, signal);
    } catch {
      clearTimeout(timer);
      resolve(null);
    }
  });
}
