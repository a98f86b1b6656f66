#!/usr/bin/env node
// Hit ratio by eviction policy: replays deterministic traces through the real store
// (each policy) and Belady's OPT, then prints a markdown table.
// Build first: npx tsc -b packages/store
// Usage: node tools/bench/hit-ratio/run.mjs [--universe N] [--requests N] [--seed N] [--cache-percents 1,5,10]
import { parseArgs } from "node:util";
import { formatHitRatioTable, runHitRatioBenchmark } from "@distcache/store/hit-ratio";

const { values } = parseArgs({
  options: {
    universe: { type: "string", default: "100000" },
    requests: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    "cache-percents": { type: "string", default: "1,5,10" },
  },
});

const options = {
  universe: Number(values.universe),
  length: Number(values.requests),
  seed: Number(values.seed),
  cachePercents: values["cache-percents"].split(",").map(Number),
};
for (const [name, value] of Object.entries(options)) {
  const numbers = Array.isArray(value) ? value : [value];
  if (!numbers.every((number) => Number.isSafeInteger(number) && number > 0)) {
    console.error(`invalid --${name}: expected positive integers`);
    process.exit(2);
  }
}

const startedMs = performance.now();
const rows = runHitRatioBenchmark(options);
const elapsedS = ((performance.now() - startedMs) / 1000).toFixed(1);
console.log(`Universe ${options.universe} keys, ${options.length} requests per trace, seed ${options.seed}; hit ratio in %.\n`);
console.log(formatHitRatioTable(rows));
console.log(`\n(${elapsedS} s on node ${process.version})`);
