import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../config/config-error.js";
import { writeFileDurably } from "../config/durable-file.js";

/**
 * The groups whose replica left this node: a tombstone each, so a start never re-creates
 * one from the placement its flags give. Written before the replica's log and snapshots
 * are dropped, and cleared before the node is given a replica of the group again.
 */
export interface RemovedGroups {
  has(group: number): boolean;
  /** Records the tombstone durably. */
  add(group: number): Promise<void>;
  /** Clears the tombstone durably. */
  delete(group: number): Promise<void>;
}

/** Tombstones in memory, for tests that run nodes in one process. */
export class MemoryRemovedGroups implements RemovedGroups {
  private readonly groups = new Set<number>();
  has(group: number): boolean {
    return this.groups.has(group);
  }
  add(group: number): Promise<void> {
    this.groups.add(group);
    return Promise.resolve();
  }
  delete(group: number): Promise<void> {
    this.groups.delete(group);
    return Promise.resolve();
  }
}

const FILE = "removed-groups.json";

/**
 * Tombstones kept in `<data-dir>/removed-groups.json`, replaced atomically on each change.
 * Changes are written one at a time, and a tombstone counts (has) only once it is durable.
 */
export async function openRemovedGroups(dataDir: string): Promise<RemovedGroups> {
  const path = join(dataDir, FILE);
  let groups: ReadonlySet<number> = new Set(await readGroups(path));
  let queue: Promise<void> = Promise.resolve();
  const change = (edit: (next: Set<number>) => void): Promise<void> => {
    const run = queue.then(async () => {
      const next = new Set(groups);
      edit(next);
      if (next.size === groups.size && [...next].every((g) => groups.has(g))) return;
      await writeFileDurably(path, `${JSON.stringify({ format: 1, groups: [...next].sort((a, b) => a - b) })}\n`);
      groups = next;
    });
    queue = run.catch(() => undefined);
    return run;
  };
  return {
    has: (group) => groups.has(group),
    add: (group) => change((next) => next.add(group)),
    delete: (group) => change((next) => next.delete(group)),
  };
}

async function readGroups(path: string): Promise<number[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path} is not valid JSON; it lists the shards whose replicas left this node`);
  }
  const groups = (parsed as { format?: unknown; groups?: unknown }).groups;
  if ((parsed as { format?: unknown }).format !== 1 || !Array.isArray(groups) || !groups.every((g) => Number.isSafeInteger(g) && g >= 0)) {
    throw new ConfigError(`${path} is not a removed-groups file of format 1 ({"format":1,"groups":[...]})`);
  }
  return groups as number[];
}
