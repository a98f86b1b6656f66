#!/usr/bin/env node
import { writeSync } from "node:fs";
import { CommanderError } from "commander";
import pino from "pino";
import { startCacheNode } from "./cache-node.js";
import { ConfigError, parseConfig } from "./config/config.js";

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (err instanceof ConfigError) {
      process.stderr.write(`cache-node: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { node: config.nodeId } });
  const node = await startCacheNode(config, { logger });
  // Machine-readable line for scripts that start nodes with --port 0.
  process.stdout.write(`${JSON.stringify({ msg: "listening", node: config.nodeId, address: node.address })}\n`);
  const shutdown = (signal: string) => {
    logger.info({ signal }, "shutting down");
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  const crashStorage = node.crashStorage;
  if (crashStorage) {
    // Test-only (--testing-storage lossy): a power loss. Nothing is written after the cut.
    process.on("SIGUSR2", () => {
      const report = crashStorage(Math.random() < 0.5);
      writeSync(2, `cache-node: lossy crash (test-only): ${JSON.stringify(report)}\n`);
      process.kill(process.pid, "SIGKILL");
    });
  }
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`cache-node: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
