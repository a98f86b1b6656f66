#!/usr/bin/env node
import { randomInt } from "node:crypto";
import type { RaftTestingBugs } from "../config.js";
import { BUG_FLAGS, SAFETY_TICKS_DEFAULT } from "./options.js";
import { addCoverage, describeCoverage, emptyCoverage } from "./coverage.js";
import { defaultNodeCount, runSeed } from "./run-seeds.js";

/**
 * The simulator's command line (a host: the only sim file allowed to touch the
 * process and a real random source, used only to pick a base seed).
 *
 *   npm run sim -- --seed 42 --nodes 5        replay one seed, with an event trace
 *   npm run sim -- --seeds 1000 [--from 1]    run many seeds (3 and 5 nodes mixed unless --nodes)
 *   --ticks N      length of the safety phase in ticks (default 3000)
 *   --bug NAME     TEST ONLY: plant a bug (double-vote, commit-old-term, ack-before-persist, early-read, unsynced-vote)
 *   --quiet        no event trace for --seed
 */
interface CliOptions {
  seed: number | undefined;
  seeds: number | undefined;
  from: number | undefined;
  nodes: 3 | 5 | undefined;
  ticks: number;
  bugs: RaftTestingBugs;
  quiet: boolean;
}

function parseInteger(flag: string, value: string | undefined): number {
  const parsed = Number(value);
  if (value === undefined || !Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`${flag} needs a non-negative integer, got ${value}`);
  return parsed;
}

function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = { seed: undefined, seeds: undefined, from: undefined, nodes: undefined, ticks: SAFETY_TICKS_DEFAULT, bugs: {}, quiet: false };
  const bugs: Record<string, boolean> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    switch (flag) {
      case "--seed":
        options.seed = parseInteger(flag, value);
        i += 1;
        break;
      case "--seeds":
        options.seeds = parseInteger(flag, value);
        i += 1;
        break;
      case "--from":
        options.from = parseInteger(flag, value);
        i += 1;
        break;
      case "--ticks":
        options.ticks = parseInteger(flag, value);
        i += 1;
        break;
      case "--nodes":
        if (value !== "3" && value !== "5") throw new Error(`--nodes must be 3 or 5, got ${value}`);
        options.nodes = value === "3" ? 3 : 5;
        i += 1;
        break;
      case "--bug": {
        const field = BUG_FLAGS[value ?? ""];
        if (field === undefined) throw new Error(`--bug must be one of ${Object.keys(BUG_FLAGS).join(", ")}`);
        bugs[field] = true;
        i += 1;
        break;
      }
      case "--quiet":
        options.quiet = true;
        break;
      default:
        throw new Error(`unknown flag ${flag}`);
    }
  }
  options.bugs = bugs;
  return options;
}

async function runOne(options: CliOptions, seed: number): Promise<boolean> {
  const nodeCount = options.nodes ?? defaultNodeCount(seed);
  console.log(`seed=${seed} nodes=${nodeCount} ticks=${options.ticks}`);
  const trace = options.quiet ? undefined : (line: string) => console.log(line);
  const result = await runSeed({ seed, nodeCount }, options.ticks, options.bugs, trace);
  console.log(describeCoverage(result.coverage));
  if (result.failure !== undefined) {
    console.log(`FAILED at tick ${result.failure.atTick}: ${result.failure.kind}\n${result.failure.message}`);
    console.log(`replay: ${result.replay}`);
    return false;
  }
  console.log("ok");
  return true;
}

async function runMany(options: CliOptions, count: number): Promise<boolean> {
  const from = options.from ?? randomInt(1, 2 ** 47);
  console.log(`seeds ${from}..${from + count - 1} nodes=${options.nodes ?? "3/5"} ticks=${options.ticks}`);
  let coverage = emptyCoverage();
  const failures: string[] = [];
  const started = performance.now();
  for (let seed = from; seed < from + count; seed += 1) {
    const result = await runSeed({ seed, nodeCount: options.nodes ?? defaultNodeCount(seed) }, options.ticks, options.bugs);
    coverage = addCoverage(coverage, result.coverage);
    if (result.failure !== undefined) {
      failures.push(result.replay);
      console.log(`seed ${seed} FAILED at tick ${result.failure.atTick}: ${result.failure.kind}: ${result.failure.message.split("\n")[0]}`);
      console.log(`  replay: ${result.replay}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${count} seeds in ${seconds.toFixed(1)} s, ${failures.length} failed`);
  console.log(describeCoverage(coverage));
  return failures.length === 0;
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
    return;
  }
  const ok = options.seed !== undefined ? await runOne(options, options.seed) : await runMany(options, options.seeds ?? 100);
  process.exitCode = ok ? 0 : 1;
}

await main();
