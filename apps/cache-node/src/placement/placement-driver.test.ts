import pino from "pino";
import { describe, expect, it } from "vitest";
import type { GroupStatus } from "../consensus/multi-raft.js";
import type { MetaState } from "../state-machine/meta-state.js";
import type { NodeGroups } from "./node-groups.js";
import { PlacementDriver } from "./placement-driver.js";

const NODES = ["n1", "n2", "n3", "n4"];
const SHARDS = 12;

/** A cluster whose groups are all in place (3 voters each), whose leaderships move when asked, and which records the asks. */
class FakeGroups implements NodeGroups {
  readonly leader: string[];
  readonly voters: string[][];
  readonly transfers: { shard: number; from: string; to: string | undefined }[] = [];
  membershipCommitted = true;

  constructor(placement: string[][], leader: string[]) {
    this.voters = placement;
    this.leader = leader;
  }

  statuses(node: string): Promise<Map<number, GroupStatus>> {
    const out = new Map<number, GroupStatus>();
    this.voters.forEach((voters, group) => {
      if (!voters.includes(node)) return;
      const leading = this.leader[group] === node;
      const status = { leaderId: this.leader[group], leading, term: 2, voters, learners: [], commit: 9, applied: 9 };
      out.set(group, { ...status, membershipCommitted: this.membershipCommitted, match: new Map(voters.map((v) => [v, 9])) });
    });
    return Promise.resolve(out);
  }

  transferLeadership(node: string, group: number, to: string | undefined): Promise<string> {
    this.transfers.push({ shard: group, from: node, to });
    if (this.leader[group] !== node || to === undefined) return Promise.reject(new Error("not the leader"));
    this.leader[group] = to;
    return Promise.resolve(to);
  }

  changeMembership(): Promise<void> {
    return Promise.reject(new Error("no membership change is expected"));
  }
  addReplica(): Promise<void> {
    return Promise.reject(new Error("no replica is expected"));
  }
  removeReplica(): Promise<void> {
    return Promise.reject(new Error("no replica is expected"));
  }
}

/** Shards 0-11 over n1-n4 with 9 replicas each (the meta group, group 12, on n1-n3); n1 leads the 9 it holds and n2 the other 3. */
function joined(): { state: MetaState; groups: FakeGroups } {
  const placement = Array.from({ length: SHARDS }, (_, s) => NODES.filter((_, i) => i !== s % 4));
  const leader = placement.map((voters) => (voters.includes("n1") ? "n1" : "n2"));
  const state: MetaState = {
    epoch: 2,
    shardCount: SHARDS,
    pointsPerShard: 64,
    nodes: NODES.map((id, i) => ({ id, clientAddress: `h:${7301 + i}`, peerAddress: `h:${7401 + i}`, leaving: false })),
    removed: [],
    placement,
    bootstrapVoters: placement.map(() => ["n1", "n2", "n3"]),
    metaBootstrapVoters: ["n1", "n2", "n3"],
  };
  const groups = new FakeGroups([...placement, ["n1", "n2", "n3"]], [...leader, "n1"]);
  return { state, groups };
}

function driver(groups: FakeGroups, balanceLeaders = true): PlacementDriver {
  return new PlacementDriver({
    nodes: groups,
    leads: () => true,
    forget: () => Promise.resolve(),
    moveOptions: { catchUpTimeoutMs: 1000, stepTimeoutMs: 1000, pollMs: 10 },
    movesMax: 2,
    logger: pino({ level: "silent" }),
    leaderSettleRounds: 3,
    balanceLeaders,
  });
}

const ledBy = (groups: FakeGroups) => NODES.map((id) => groups.leader.slice(0, SHARDS).filter((l) => l === id).length);

async function rounds(d: PlacementDriver, state: MetaState, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await d.round(state);
    await d.settled();
  }
}

describe("PlacementDriver, leader balance", () => {
  it("leaves leaders alone until they have stayed put for the settle rounds, then balances them by transfer", async () => {
    const { state, groups } = joined();
    const d = driver(groups);
    await rounds(d, state, 2);
    expect(groups.transfers).toEqual([]);
    await rounds(d, state, 1);
    expect(ledBy(groups)).toEqual([3, 3, 3, 3]);
    expect(groups.leader[SHARDS]).toBe("n1");
    for (const t of groups.transfers) expect(groups.voters[t.shard]).toContain(t.to);
    const made = groups.transfers.length;
    await rounds(d, state, 5);
    expect(groups.transfers).toHaveLength(made);
  });

  it("moves no leadership when leader balance is off (--no-leader-balance)", async () => {
    const { state, groups } = joined();
    await rounds(driver(groups, false), state, 6);
    expect(groups.transfers).toEqual([]);
  });

  it("moves no leadership while a group's membership change is in progress", async () => {
    const { state, groups } = joined();
    groups.membershipCommitted = false;
    await rounds(driver(groups), state, 6);
    expect(groups.transfers).toEqual([]);
  });

  it("gives no leadership to a leaving node", async () => {
    const { state, groups } = joined();
    const leaving = { ...state, nodes: state.nodes.map((n) => (n.id === "n4" ? { ...n, leaving: true } : n)) };
    await rounds(driver(groups), leaving, 6);
    expect(groups.transfers.length).toBeGreaterThan(0);
    expect(groups.transfers.every((t) => t.to !== "n4")).toBe(true);
    expect(ledBy(groups)).toEqual([4, 4, 4, 0]);
  });
});
