import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../config/config-error.js";
import { writeFileDurably } from "../config/durable-file.js";

/**
 * What a replica that left this node had promised: the highest term it saw and its vote
 * in that term. A replica of the group created here again starts from them, so this node
 * never votes twice in one term under its id. Undefined for a tombstone written before
 * they were recorded (format 1): such a group is never given to this node again.
 */
export interface RemovedVote {
  term: number;
  vote: string | undefined;
}

/**
 * The groups whose replica left this node: a tombstone each, so a start never re-creates
 * one from the placement its flags give, nor from its log. Written before the replica's
 * log and snapshots are dropped, and cleared once the node is given a replica of the
 * group again (which starts from the tombstone's term and vote).
 */
export interface RemovedGroups {
  has(group: number): boolean;
  /** The tombstone's term and vote; undefined when it has none recorded (or there is none). */
  vote(group: number): RemovedVote | undefined;
  /** Records the tombstone durably (a later call raises its term and vote). */
  add(group: number, vote: RemovedVote): Promise<void>;
  /** Clears the tombstone durably. */
  delete(group: number): Promise<void>;
}

type Tombstones = ReadonlyMap<number, RemovedVote | undefined>;

/** Tombstones in memory, for tests that run nodes in one process. */
export class MemoryRemovedGroups implements RemovedGroups {
  private readonly groups = new Map<number, RemovedVote | undefined>();
  has(group: number): boolean {
    return this.groups.has(group);
  }
  vote(group: number): RemovedVote | undefined {
    return this.groups.get(group);
  }
  add(group: number, vote: RemovedVote): Promise<void> {
    this.groups.set(group, later(this.groups.get(group), vote));
    return Promise.resolve();
  }
  delete(group: number): Promise<void> {
    this.groups.delete(group);
    return Promise.resolve();
  }
}

/** The promise to keep of two: the one of the higher term. */
function later(a: RemovedVote | undefined, b: RemovedVote): RemovedVote {
  return a && a.term > b.term ? a : b;
}

const FILE = "removed-groups.json";
const FORMAT = 2;

/**
 * Tombstones kept in `<data-dir>/removed-groups.json`, replaced atomically on each change.
 * Changes are written one at a time, and a tombstone counts (has) only once it is durable.
 */
export async function openRemovedGroups(dataDir: string): Promise<RemovedGroups> {
  const path = join(dataDir, FILE);
  let groups: Tombstones = await readGroups(path);
  let queue: Promise<void> = Promise.resolve();
  const change = (edit: (next: Map<number, RemovedVote | undefined>) => void): Promise<void> => {
    const run = queue.then(async () => {
      const next = new Map(groups);
      edit(next);
      if (same(next, groups)) return;
      await writeFileDurably(path, render(next));
      groups = next;
    });
    queue = run.catch(() => undefined);
    return run;
  };
  return {
    has: (group) => groups.has(group),
    vote: (group) => groups.get(group),
    add: (group, vote) => change((next) => next.set(group, later(next.get(group), vote))),
    delete: (group) => change((next) => next.delete(group)),
  };
}

function same(a: Tombstones, b: Tombstones): boolean {
  return a.size === b.size && [...a].every(([group, v]) => b.has(group) && JSON.stringify(b.get(group)) === JSON.stringify(v));
}

function render(groups: Tombstones): string {
  const list = [...groups].sort(([a], [b]) => a - b).map(([group, v]) => (v ? { group, term: v.term, vote: v.vote ?? null } : { group }));
  return `${JSON.stringify({ format: FORMAT, groups: list })}\n`;
}

async function readGroups(path: string): Promise<Map<number, RemovedVote | undefined>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path} is not valid JSON; it lists the shards whose replicas left this node`);
  }
  const groups = parseTombstones(parsed);
  if (!groups) throw new ConfigError(`${path} is not a removed-groups file of format 1 or 2 ({"format":2,"groups":[{"group":0,"term":1,"vote":"n1"}]})`);
  return groups;
}

const isGroup = (g: unknown): g is number => Number.isSafeInteger(g) && (g as number) >= 0;

/** Format 1 lists group numbers only; format 2 gives each its term and vote. */
function parseTombstones(parsed: unknown): Map<number, RemovedVote | undefined> | undefined {
  const { format, groups } = (parsed ?? {}) as { format?: unknown; groups?: unknown };
  if (!Array.isArray(groups)) return undefined;
  if (format === 1) return groups.every(isGroup) ? new Map(groups.map((g) => [g, undefined])) : undefined;
  if (format !== FORMAT) return undefined;
  const out = new Map<number, RemovedVote | undefined>();
  for (const item of groups as { group?: unknown; term?: unknown; vote?: unknown }[]) {
    if (typeof item !== "object" || item === null || !isGroup(item.group)) return undefined;
    if (item.term === undefined) {
      out.set(item.group, undefined);
      continue;
    }
    if (!Number.isSafeInteger(item.term) || (item.term as number) < 0 || (item.vote !== null && typeof item.vote !== "string")) return undefined;
    out.set(item.group, { term: item.term as number, vote: (item.vote as string | null) ?? undefined });
  }
  return out;
}
