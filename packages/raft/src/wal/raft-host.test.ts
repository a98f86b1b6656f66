import { describe, expect, it } from "vitest";
import type { Entry } from "../entry.js";
import { RaftNode } from "../raft-node.js";
import { SeededRandom } from "../random.js";
import type { Ready } from "../ready.js";
import type { NodeId } from "../types.js";
import { MemoryWalFs } from "./memory-wal-fs.js";
import { NodeWal } from "./node-wal.js";
import type { WalAppend } from "./node-wal.js";

const DIR = "/node-1/wal";
const GROUPS = [1, 2, 3];
const ME = "n1" as NodeId;

function startNodes(wal: NodeWal): Map<number, RaftNode> {
  const nodes = new Map<number, RaftNode>();
  for (const group of GROUPS) {
    const config = { id: ME, voters: [ME] };
    nodes.set(group, new RaftNode({ config, storage: wal.storage(group), random: new SeededRandom(group) }));
  }
  return nodes;
}

/** One host cycle: every group's Ready persisted by ONE append (one fsync), then advanced. */
async function cycle(wal: NodeWal, nodes: Map<number, RaftNode>, applied: Map<number, Entry[]>): Promise<number> {
  const readies: Array<[number, RaftNode, Ready]> = [];
  for (const [group, node] of nodes) {
    const ready = node.ready();
    if (ready !== undefined) readies.push([group, node, ready]);
  }
  const batch: WalAppend[] = readies.map(([group, , ready]) =>
    ready.hardState === undefined ? { group, entries: ready.entries } : { group, entries: ready.entries, hardState: ready.hardState },
  );
  await wal.append(
    batch,
    readies.some(([, , ready]) => ready.mustSync),
  );
  for (const [group, node, ready] of readies) {
    applied.set(group, [...(applied.get(group) ?? []), ...ready.committedEntries]);
    node.advance(ready);
  }
  return readies.length;
}

async function settle(wal: NodeWal, nodes: Map<number, RaftNode>, applied: Map<number, Entry[]>): Promise<void> {
  while ((await cycle(wal, nodes, applied)) > 0);
}

describe("NodeWal as the storage of Raft groups", () => {
  it("persists several groups with one fsync per cycle and restarts them where they were", async () => {
    let fs = new MemoryWalFs({ lossy: true });
    const wal = await NodeWal.open(DIR, { fs });
    const applied = new Map<number, Entry[]>();
    const nodes = startNodes(wal);
    for (const node of nodes.values()) node.campaign();
    await settle(wal, nodes, applied);
    for (const node of nodes.values()) expect(node.role).toBe("leader");

    const fsyncs = wal.stats.fsyncs;
    const batches = wal.stats.batches;
    for (let round = 0; round < 5; round++) {
      for (const [group, node] of nodes) node.propose(new TextEncoder().encode(`g${group} r${round}`));
      await cycle(wal, nodes, applied);
    }
    await settle(wal, nodes, applied);
    // Each cycle carried the Readies of all three groups in one flush, with at most one fsync.
    expect(wal.stats.fsyncs - fsyncs).toBeGreaterThanOrEqual(5);
    expect(wal.stats.fsyncs - fsyncs).toBeLessThanOrEqual(wal.stats.batches - batches);
    const commits = new Map([...nodes].map(([group, node]) => [group, node.commit]));

    // Power loss. Every entry and vote the nodes acted on was synced; a commit-only hard state
    // is not (mustSync is false for it), so the durable commit may lag by the last advance.
    fs = fs.crash();
    const reopened = await NodeWal.open(DIR, { fs });
    // The cache's state machine lives in memory: it restarts empty and re-applies the log.
    const reapplied = new Map<number, Entry[]>();
    const restarted = startNodes(reopened);
    for (const [group, node] of restarted) {
      expect(node.term).toBe(nodes.get(group)!.term);
      expect(node.commit).toBeGreaterThanOrEqual(commits.get(group)! - 1);
      expect(reopened.storage(group).lastIndex()).toBe(commits.get(group));
    }
    for (const node of restarted.values()) node.campaign();
    await settle(reopened, restarted, reapplied);
    for (const [group, node] of restarted) {
      expect(node.role).toBe("leader");
      expect(node.term).toBe(nodes.get(group)!.term + 1);
    }
    const commands = (entries: Entry[]): string[] => entries.filter((entry) => entry.kind === "command").map((entry) => new TextDecoder().decode(entry.data));
    expect(commands(applied.get(2)!)).toEqual(["g2 r0", "g2 r1", "g2 r2", "g2 r3", "g2 r4"]);
    expect(commands(reapplied.get(2)!)).toEqual(commands(applied.get(2)!));
    await reopened.close();
  });
});
