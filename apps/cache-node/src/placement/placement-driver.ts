import type { Logger } from "pino";
import type { GroupStatus } from "../consensus/multi-raft.js";
import type { MetaState } from "../state-machine/meta-state.js";
import { metaVoterCount } from "./meta-group.js";
import { UnreachableError, type NodeGroups } from "./node-groups.js";
import { RemoteMoveCluster } from "./remote-move-cluster.js";
import { moveReplica, type MoveOptions, type ReplicaMove } from "./replica-move.js";
import { planLeaderTransfers, type LedShard } from "./plan-leaders.js";

export interface PlacementDriverOptions {
  nodes: NodeGroups;
  /** Whether this node still leads the meta group: a move stops at its next step once it does not. */
  leads: () => boolean;
  /** Removes a leaving node for good (forgetNode), once no group counts it. */
  forget: (id: string) => Promise<void>;
  moveOptions: Omit<MoveOptions, "onStep">;
  /** Most moves under way at once. */
  movesMax: number;
  logger: Logger;
  /** Whether shard leaderships are moved to balance them (default true). */
  balanceLeaders?: boolean;
  /** Rounds in a row that must see the same shard leaders, with no move under way, before leaders are balanced. */
  leaderSettleRounds?: number;
}

/** A replica move under way, as metrics show it. */
export interface MoveView {
  shard: number;
  from: string | undefined;
  to: string | undefined;
  /** The step it is at (replica-move.ts MoveStep). */
  phase: string;
}

/** Raised from a move's step once this node no longer leads the meta group; the new leader resumes the move. */
class DeposedError extends Error {
  override name = "DeposedError";
}

const isMember = (s: GroupStatus, id: string) => s.voters.includes(id) || s.learners.includes(id);

/**
 * Steers every Raft group toward the meta document (run by the meta group's leader, one
 * round at a time): for each group whose committed configuration differs from its
 * intended replicas, one replica move (replica-move.ts) at a time, a few groups at once;
 * replicas left on nodes their group no longer counts are dropped; a leaving node that no
 * group counts any more is removed for good. Each round starts from the groups' own
 * configurations, so a move cut short (a crash, a new meta leader) is resumed from where
 * its group is.
 */
export class PlacementDriver {
  private readonly moving = new Map<number, Promise<void>>();
  private readonly phases = new Map<number, MoveView>();
  /** Moves and leader transfers since this node started, by outcome. */
  readonly counts = { movesStarted: 0, moved: 0, notMade: 0, stopped: 0, leaderTransfers: 0, leaderTransferFailures: 0 };
  private candidates: readonly string[] = [];
  private balancing: Promise<void> | undefined;
  private leadersSeen = "";
  private leadersSeenRounds = 0;
  private readonly cluster: RemoteMoveCluster;

  constructor(private readonly options: PlacementDriverOptions) {
    this.cluster = new RemoteMoveCluster(
      options.nodes,
      () => this.candidates,
      (node, group, err) =>
        options.logger.warn({ shard: group, node, err: err.message }, "a replica its group left could not be dropped: its node does not answer"),
    );
  }

  /** Moves under way, by group. */
  movesUnderWay(): number[] {
    return [...this.moving.keys()];
  }

  /** Moves under way, with the step each is at. */
  moves(): MoveView[] {
    return [...this.phases.values()];
  }

  /** Resolves once the moves and leader transfers under way now have ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.moving.values(), this.balancing]);
  }

  /** One round over the document `state`. */
  async round(state: MetaState): Promise<void> {
    const ids = state.nodes.map((n) => n.id);
    this.candidates = ids;
    const statuses = new Map(await Promise.all(ids.map(async (id) => [id, await this.options.nodes.statuses(id, [])] as const)));
    const leaders = leadersOf(statuses, state.shardCount + 1);
    let settled = true;
    for (let group = 0; group <= state.shardCount; group++) {
      const leader = leaders.get(group);
      if (!leader || !this.reconcile(state, group, leader)) settled = false;
    }
    await this.dropStrays(state, statuses, leaders);
    await this.forgetLeft(state, statuses, leaders);
    if (settled && this.moving.size === 0 && this.options.balanceLeaders !== false) this.balanceLeaders(state, statuses, leaders);
    else this.leadersSeenRounds = 0;
  }

  /**
   * Once every group has its intended replicas and its shard leaders have stayed put for
   * a few rounds, moves leaderships (never data) so that shard leaders per live node
   * differ by at most one (plan-leaders.ts). The meta group is not counted.
   */
  private balanceLeaders(state: MetaState, statuses: ReadonlyMap<string, Map<number, GroupStatus> | undefined>, leaders: Map<number, GroupStatus>): void {
    const shards: LedShard[] = [];
    for (let shard = 0; shard < state.shardCount; shard++) {
      const leader = leaders.get(shard);
      shards.push({ shard, leader: leader?.leaderId, voters: leader?.voters ?? [] });
    }
    const seen = shards.map((s) => s.leader ?? "").join(",");
    this.leadersSeenRounds = seen === this.leadersSeen ? this.leadersSeenRounds + 1 : 1;
    this.leadersSeen = seen;
    if (this.balancing || this.leadersSeenRounds < (this.options.leaderSettleRounds ?? 4)) return;
    const nodes = state.nodes.filter((n) => !n.leaving && statuses.get(n.id) !== undefined).map((n) => n.id);
    const transfers = planLeaderTransfers(shards, nodes);
    if (transfers.length === 0) return;
    const { logger } = this.options;
    this.balancing = Promise.all(
      transfers.map(async ({ shard, from, to }) => {
        if (!this.options.leads()) return;
        logger.info({ shard, from, to, phase: "transfer-leader", epoch: state.epoch }, "leader balance step");
        try {
          const now = await this.options.nodes.transferLeadership(from, shard, to);
          this.counts.leaderTransfers++;
          logger.info({ shard, from, to, leader: now }, "leader balanced");
        } catch (err) {
          this.counts.leaderTransferFailures++;
          logger.warn({ shard, from, to, err: (err as Error).message }, "leader transfer for balance failed; retried later");
        }
      }),
    ).then(() => {
      this.balancing = undefined;
      this.leadersSeenRounds = 0;
    });
  }

  /**
   * Starts the group's next move toward its intended replicas, if it needs one and none
   * is under way. Returns whether the group has its intended replicas already.
   */
  private reconcile(state: MetaState, group: number, leader: GroupStatus): boolean {
    if (this.moving.has(group) || !leader.membershipCommitted) return false;
    const want = intended(state, group, leader);
    const stray = leader.learners.find((id) => !want.includes(id));
    const to = stray === undefined ? want.find((id) => !leader.voters.includes(id)) : undefined;
    const from = stray ?? leader.voters.find((id) => !want.includes(id));
    if (to === undefined && from === undefined) return true;
    if (this.moving.size >= this.options.movesMax) return false;
    const bootstrapVoters = group < state.shardCount ? state.bootstrapVoters[group]! : state.metaBootstrapVoters;
    const move: ReplicaMove = { shard: group, from, to, bootstrapVoters };
    const { logger } = this.options;
    // One log line per step: the shard (the meta group's id for the meta group), from, to and phase.
    const fields = { shard: group, from: from ?? null, to: to ?? null };
    const onStep = (phase: string) => {
      if (!this.options.leads()) throw new DeposedError(`group ${group}: this node no longer leads the meta group`);
      this.phases.set(group, { shard: group, from, to, phase });
      logger.info({ ...fields, phase, epoch: state.epoch }, "replica move step");
    };
    this.counts.movesStarted++;
    const run = moveReplica(this.cluster, move, { ...this.options.moveOptions, onStep })
      .then((outcome) => {
        if (outcome.moved) this.counts.moved++;
        else this.counts.notMade++;
        logger.info({ ...fields, ...outcome }, outcome.moved ? "replica moved" : "replica move not made");
      })
      .catch((err: unknown) => {
        this.counts.stopped++;
        // A node that does not answer yet (one that joined opens its client port once it is a member) is no fault.
        const level = err instanceof UnreachableError ? "info" : "warn";
        logger[level]({ ...fields, err: (err as Error).message }, "replica move stopped; retried later");
      })
      .finally(() => {
        this.moving.delete(group);
        this.phases.delete(group);
      });
    this.moving.set(group, run);
    return false;
  }

  /** Drops replicas on nodes their group neither counts nor is meant to have (left by a move whose last step was cut short). */
  private async dropStrays(state: MetaState, statuses: ReadonlyMap<string, Map<number, GroupStatus> | undefined>, leaders: Map<number, GroupStatus>) {
    const drops: Promise<void>[] = [];
    for (const [id, hosted] of statuses) {
      for (const group of hosted?.keys() ?? []) {
        const leader = leaders.get(group);
        if (!leader?.membershipCommitted || this.moving.has(group) || isMember(leader, id) || intended(state, group, leader).includes(id)) continue;
        this.options.logger.info({ shard: group, node: id }, "dropping a replica its group no longer counts");
        drops.push(
          this.options.nodes.removeReplica(id, group).catch((err: unknown) => this.options.logger.debug({ err, shard: group, node: id }, "drop failed")),
        );
      }
    }
    await Promise.all(drops);
  }

  /** Removes for good each leaving node that no group counts and that holds no replica (or does not answer). */
  private async forgetLeft(state: MetaState, statuses: ReadonlyMap<string, Map<number, GroupStatus> | undefined>, leaders: Map<number, GroupStatus>) {
    for (const node of state.nodes.filter((n) => n.leaving)) {
      let counted = false;
      for (let group = 0; group <= state.shardCount && !counted; group++) {
        const leader = leaders.get(group);
        counted = !leader || !leader.membershipCommitted || isMember(leader, node.id) || this.moving.has(group);
      }
      if (counted || (statuses.get(node.id)?.size ?? 0) > 0) continue;
      await this.options.forget(node.id);
      this.options.logger.info({ node: node.id }, "a node that left is removed from the cluster for good");
    }
  }
}

/** Per group, the status of its leader: the highest term among replicas that say they lead. */
function leadersOf(statuses: ReadonlyMap<string, Map<number, GroupStatus> | undefined>, groups: number): Map<number, GroupStatus> {
  const out = new Map<number, GroupStatus>();
  for (const hosted of statuses.values()) {
    for (const [group, s] of hosted ?? []) {
      if (group >= groups || !s.leading) continue;
      const best = out.get(group);
      if (!best || s.term > best.term) out.set(group, s);
    }
  }
  return out;
}

/**
 * The replicas a group should have: a shard's from the placement; the meta group's, its
 * voters that are live members, topped up with live members by id (or trimmed) to 3, or
 * 5 once there are 5 live nodes.
 */
function intended(state: MetaState, group: number, leader: GroupStatus): readonly string[] {
  if (group < state.shardCount) return state.placement[group]!;
  const live = state.nodes.filter((n) => !n.leaving).map((n) => n.id);
  const count = metaVoterCount(live.length);
  const keep = leader.voters.filter((id) => live.includes(id)).slice(0, count);
  for (const id of live) if (keep.length < count && !keep.includes(id)) keep.push(id);
  return keep;
}
