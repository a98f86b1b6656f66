import type { RaftTestingBugs } from "../config.js";
import type { SimResult } from "./sim-result.js";
import { Simulator } from "./simulator.js";
import { swarmOptions } from "./options.js";

export interface SeedRun {
  readonly seed: number;
  readonly nodeCount: 3 | 5;
}

/** The node count the CI seed set uses for `seed`: a mix of 3- and 5-node groups. */
export function defaultNodeCount(seed: number): 3 | 5 {
  return seed % 2 === 0 ? 5 : 3;
}

export function runSeed(run: SeedRun, safetyTicks?: number, bugs?: RaftTestingBugs, trace?: (line: string) => void): Promise<SimResult> {
  return new Simulator(swarmOptions(run.seed, run.nodeCount, safetyTicks, bugs), trace).run();
}
