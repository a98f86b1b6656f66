import { SAFETY_TICKS_DEFAULT } from "./options.js";

/**
 * The fixed seed set CI runs (a mix of 3- and 5-node groups, see
 * `defaultNodeCount`), sized so the whole set takes well under two minutes on
 * a 2-core machine (on the real WAL, about 95 s of CPU under vitest, split
 * over two test files). The planted-bug tests use the same budget.
 */
export const CI_SEED_FIRST = 1;
export const CI_SEED_COUNT = 1000;
export const CI_SAFETY_TICKS = SAFETY_TICKS_DEFAULT;
