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

/** Tombstones kept in `<data-dir>/removed-groups.json`, replaced atomically on each change. */
export async function openRemovedGroups(dataDir: string): Promise<RemovedGroups> {
  const path = join(dataDir, FILE);
  const groups = new Set(await readGroups(path));
  const save = () => writeFileDurably(path, `${JSON.stringify({ format: 1, groups: [...groups].sort((a, b) => a - b) })}\n`);
  return {
    has: (group) => groups.has(group),
    add: async (group) => {
      if (groups.has(group)) return;
      groups.add(group);
      await save();
    },
    delete: async (group) => {
      if (!groups.delete(group)) return;
      await save();
    },
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
