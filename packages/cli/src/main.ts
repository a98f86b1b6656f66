#!/usr/bin/env node
import { createNodeCacheClient } from "@distcache/client/node";
import { runCli } from "./run-cli.js";

// One command per process: routing needs no topology stream.
const code = await runCli(process.argv.slice(2), {
  connect: ({ endpoints, timeoutMs }) => createNodeCacheClient({ endpoints, timeoutMs, watchTopology: false }),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
// Let pending output drain instead of process.exit(), which could cut it short.
process.exitCode = code;
