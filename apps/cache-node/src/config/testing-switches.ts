import { ConfigError } from "./config-error.js";

/*
 * Test-only switches: fault hooks, a wall-clock offset and planted bugs, for the chaos
 * harness (tools/chaos). One rule covers them all: each is accepted only together with
 * --testing, and a node started with any of them names them in its startup log. A node
 * without --testing refuses every one, so no production node can run with them.
 */

/**
 * Bugs a node can be made to have on purpose, each breaking one guarantee, so the chaos
 * harness proves its checks catch real faults (docs/design.md names the invariants).
 */
export const PLANTED_BUGS = {
  "ack-before-commit": "answers a write once its leader proposed it, before it commits (invariant 1)",
  "follower-read-without-read-index": "serves STRONG reads on a follower from whatever it applied, with no ReadIndex (invariant 1)",
  "incr-twice": "applies a retried Incr again instead of answering from its session (invariant 4)",
  "stale-read-index": "answers a follower's ReadIndex with the read index it gave an earlier request (invariant 1)",
  "local-clock-expiry": "judges a STRONG read's expiry by the serving node's wall clock, not the log's stamp (invariant 9)",
  "append-without-fsync": "acknowledges appended entries without fsyncing them (invariant 5)",
  "unsynced-vote": "grants a vote before its hard state is written; a hard state alone is held back until the group's next entries (invariant 5)",
} as const;

export type PlantedBug = keyof typeof PLANTED_BUGS;

/** What --testing turned on; a node started without --testing has none. */
export interface TestingSwitches {
  /** The control file the node watches for peer faults and clock changes (see testing-control.ts). */
  controlFile: string | undefined;
  /** Added to every wall-clock reading (the monotonic clock is untouched), until the control file says otherwise. */
  clockOffsetMs: number;
  bugs: ReadonlySet<PlantedBug>;
  /**
   * "lossy": the write-ahead log and snapshot files keep track of what they synced, and
   * SIGUSR2 makes the node cut them to that, as a power loss would, and die at once.
   */
  storage: TestingStorage;
}

export const TESTING_STORAGE = ["real", "lossy"] as const;
export type TestingStorage = (typeof TESTING_STORAGE)[number];

/** The config keys of the test-only switches, with their flags. */
export const TESTING_KEYS = {
  testingControl: "--testing-control",
  testingClockOffsetMs: "--testing-clock-offset-ms",
  testingBug: "--testing-bug",
  testingStorage: "--testing-storage",
} as const;

/** The largest wall-clock offset a node takes: a day either way. */
export const CLOCK_OFFSET_MS_MAX = 24 * 3600 * 1000;

type Flat = Partial<Record<string, unknown>>;

/** The test-only switches of the merged options; undefined without --testing, which refuses any switch. */
export function resolveTestingSwitches(flat: Flat): TestingSwitches | undefined {
  const given = (Object.keys(TESTING_KEYS) as (keyof typeof TESTING_KEYS)[]).filter((key) => flat[key] !== undefined);
  if (flat["testing"] !== true) {
    if (flat["testing"] !== undefined && flat["testing"] !== false)
      throw new ConfigError(`testing must be true or false, got ${JSON.stringify(flat["testing"])}`);
    if (given.length > 0) {
      const flags = given.map((key) => TESTING_KEYS[key]).join(", ");
      throw new ConfigError(`${flags}: test-only, accepted only with --testing (never on a production node)`);
    }
    return undefined;
  }
  return {
    controlFile: flat["testingControl"] === undefined ? undefined : String(flat["testingControl"]),
    clockOffsetMs: clockOffset(flat["testingClockOffsetMs"]),
    bugs: plantedBugs(flat["testingBug"]),
    storage: storageMode(flat["testingStorage"]),
  };
}

function clockOffset(raw: unknown): number {
  if (raw === undefined) return 0;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || Math.abs(value) > CLOCK_OFFSET_MS_MAX) {
    throw new ConfigError(`--testing-clock-offset-ms must be an integer in [-${CLOCK_OFFSET_MS_MAX}, ${CLOCK_OFFSET_MS_MAX}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

function storageMode(raw: unknown): TestingStorage {
  if (raw === undefined) return "real";
  if (!(TESTING_STORAGE as readonly unknown[]).includes(raw))
    throw new ConfigError(`--testing-storage must be one of ${TESTING_STORAGE.join(", ")}, got ${JSON.stringify(raw)}`);
  return raw as TestingStorage;
}

function plantedBugs(raw: unknown): ReadonlySet<PlantedBug> {
  if (raw === undefined) return new Set();
  const names = (Array.isArray(raw) ? raw.map(String) : String(raw).split(",")).map((name) => name.trim()).filter((name) => name !== "");
  const bugs = new Set<PlantedBug>();
  for (const name of names) {
    if (!Object.hasOwn(PLANTED_BUGS, name)) throw new ConfigError(`--testing-bug: no planted bug "${name}" (one of ${Object.keys(PLANTED_BUGS).join(", ")})`);
    bugs.add(name as PlantedBug);
  }
  return bugs;
}

/** The switches a node runs with, for its startup log. */
export function describeTestingSwitches(switches: TestingSwitches): Record<string, unknown> {
  return {
    controlFile: switches.controlFile ?? null,
    clockOffsetMs: switches.clockOffsetMs,
    storage: switches.storage,
    plantedBugs: [...switches.bugs].map((bug) => `${bug}: ${PLANTED_BUGS[bug]}`),
  };
}

/** Whether a planted bug is on (false on every node started without --testing). */
export const hasBug = (switches: TestingSwitches | undefined, bug: PlantedBug): boolean => switches?.bugs.has(bug) ?? false;
