import { asNodeId, type ConfChange } from "@distcache/raft";
import type { GroupStatus } from "../consensus/multi-raft.js";

/**
 * What moving a replica needs from the cluster: each call is one step, made on the node
 * that must make it (the shard's leader, or the node gaining or losing the replica). The
 * placement driver gives it over the network; tests give it in-process nodes.
 */
export interface MoveCluster {
  /** The shard's group as its leader sees it; undefined while no leader answers. */
  groupStatus(shard: number): Promise<GroupStatus | undefined>;
  /** One membership change at the shard's leader, resolved once committed (MultiRaft.changeMembership). */
  changeMembership(shard: number, change: ConfChange): Promise<void>;
  /** Moves the shard's leadership to `to` (undefined: the voter the leader picks), resolved once it leads. */
  transferLeader(shard: number, to: string | undefined): Promise<void>;
  /** `node` creates its empty replica of the shard, with the group's bootstrap voters (MultiRaft.addGroup). */
  addReplica(node: string, shard: number, bootstrapVoters: readonly string[]): Promise<void>;
  /** `node` drops its replica of the shard, which the group no longer counts (MultiRaft.removeGroup). */
  removeReplica(node: string, shard: number): Promise<void>;
  /** What `node`'s replica of the shard applied; undefined if it holds none or does not answer. */
  appliedIndex(node: string, shard: number): Promise<number | undefined>;
}

export interface ReplicaMove {
  shard: number;
  /** The replica that leaves (a voter or learner of the group); undefined when the group only gains one. */
  from?: string;
  /** The node that gains a replica; undefined when the group only loses one. */
  to?: string;
  /** The group's bootstrap voters, which every replica of it is created with. */
  bootstrapVoters: readonly string[];
}

export interface MoveOptions {
  /** How long the new replica may take to catch up as a learner before the move is rolled back. */
  catchUpTimeoutMs: number;
  /** How long any other step may keep failing (no leader, another change in progress) before the move gives up. */
  stepTimeoutMs: number;
  /** Pause between polls and retries. */
  pollMs?: number;
  /** Called at the start of each step, for logs and metrics. */
  onStep?: (step: MoveStep, move: ReplicaMove) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export type MoveStep = "add-replica" | "add-learner" | "catch-up" | "promote" | "catch-up-voter" | "transfer-leader" | "remove-old" | "drop-old" | "roll-back";

export type MoveOutcome = { moved: true } | { moved: false; rolledBack: boolean; reason: string };

/** Raised when a step cannot be completed in time; the move can be resumed from the group's state. */
export class MoveStalledError extends Error {
  override name = "MoveStalledError";
}

const RETRYABLE = new Set([
  "NotLeaderError",
  "WriteLostError",
  "IndeterminateError",
  "TransferError",
  "MembershipChangeError",
  "UnreachableError",
  "OverloadedError",
]);

/**
 * Moves shard's replica from `from` to `to`, keeping a quorum of caught-up voters at every
 * step: `to` creates an empty replica, joins as a learner and catches up by log or
 * snapshot, is promoted, and applies up to the commit index at its promotion; only then
 * is `from` removed (after its leadership, if it leads, moves to another voter, so the
 * writes in flight commit), and its replica dropped. A learner that does not catch up in
 * time is removed again (rolled back). Every step reads the group's own configuration
 * first (committed, when it decides what is left to do), so a move interrupted anywhere
 * (a crash, a leader change) resumes from where the group is when it is run again. The
 * caller states the intent: with `to` a voter already, the move only takes `from` out.
 */
export function moveReplica(cluster: MoveCluster, move: ReplicaMove, options: MoveOptions): Promise<MoveOutcome> {
  return new Mover(cluster, move, options).run();
}

const isVoter = (s: GroupStatus, id: string) => s.voters.includes(id);
const isMember = (s: GroupStatus, id: string) => s.voters.includes(id) || s.learners.includes(id);

class Mover {
  private readonly pollMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly cluster: MoveCluster,
    private readonly move: ReplicaMove,
    private readonly options: MoveOptions,
  ) {
    this.pollMs = options.pollMs ?? 50;
    this.sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? (() => performance.now());
  }

  async run(): Promise<MoveOutcome> {
    const { shard, from, to } = this.move;
    if (from === to) return { moved: false, rolledBack: false, reason: `a replica cannot move from ${from} to itself` };
    // Judged on a committed configuration only: one in progress may still be undone.
    const s = await this.committedStatus();
    if (to === undefined) return this.takeOut(from!, s);
    if (from === undefined) {
      if (!isVoter(s, to)) {
        const joined = await this.join(to);
        if (joined) return joined;
      }
      await this.voterCaughtUp(to);
      return { moved: true };
    }
    if (!isMember(s, from) && isVoter(s, to)) return this.dropOld(from);
    if (!isVoter(s, from) && !isVoter(s, to)) return { moved: false, rolledBack: false, reason: `${from} is not a voter of shard ${shard}` };
    if (!isVoter(s, to)) {
      const joined = await this.join(to);
      if (joined) return joined;
    }
    await this.voterCaughtUp(to);
    return this.takeOut(from, await this.committedStatus());
  }

  /** `from` leaves the group (its leadership first, if it leads) and drops its replica. */
  private async takeOut(from: string, s: GroupStatus): Promise<MoveOutcome> {
    if (isMember(s, from)) {
      await this.quorumWithout(from);
      await this.leadershipOff(from);
      this.step("remove-old");
      await this.change({ kind: "removeNode", node: asNodeId(from) }, (g) => !isMember(g, from));
    }
    return this.dropOld(from);
  }

  private step(name: MoveStep): void {
    this.options.onStep?.(name, this.move);
  }

  private async dropOld(from: string): Promise<MoveOutcome> {
    this.step("drop-old");
    await this.cluster.removeReplica(from, this.move.shard);
    return { moved: true };
  }

  /** `to` gets a replica, joins as a learner, catches up and is promoted; or is rolled back (the outcome). */
  private async join(to: string): Promise<MoveOutcome | undefined> {
    const { shard } = this.move;
    this.step("add-replica");
    await this.cluster.addReplica(to, shard, this.move.bootstrapVoters);
    this.step("add-learner");
    await this.change({ kind: "addLearner", node: asNodeId(to) }, (g) => isMember(g, to));
    this.step("catch-up");
    const until = this.now() + this.options.catchUpTimeoutMs;
    for (;;) {
      const s = await this.status();
      if ((s.match.get(to) ?? 0) >= s.commit) break;
      if (this.now() >= until) {
        this.step("roll-back");
        await this.change({ kind: "removeNode", node: asNodeId(to) }, (g) => !isMember(g, to));
        await this.cluster.removeReplica(to, shard);
        return { moved: false, rolledBack: true, reason: `${to} did not catch up with shard ${shard} within ${this.options.catchUpTimeoutMs} ms` };
      }
      await this.sleep(this.pollMs);
    }
    this.step("promote");
    await this.change({ kind: "promoteLearner", node: asNodeId(to) }, (g) => isVoter(g, to));
    return undefined;
  }

  /** The new voter applies what was committed when it was promoted, before the old one goes. */
  private async voterCaughtUp(to: string): Promise<void> {
    const { shard } = this.move;
    this.step("catch-up-voter");
    const promotedAt = (await this.status()).commit;
    const until = this.now() + this.options.stepTimeoutMs;
    while (((await this.cluster.appliedIndex(to, shard)) ?? 0) < promotedAt) {
      if (this.now() >= until) throw new MoveStalledError(`shard ${shard}: ${to} did not apply index ${promotedAt} within ${this.options.stepTimeoutMs} ms`);
      await this.sleep(this.pollMs);
    }
  }

  /**
   * Waits until a majority of the voters other than `from` hold the leader's commit index,
   * so the group keeps a quorum of caught-up voters once `from` is gone (a move resumed
   * after its promotion, or a shrink, checks it here).
   */
  private async quorumWithout(from: string): Promise<void> {
    const { shard } = this.move;
    const until = this.now() + this.options.stepTimeoutMs;
    for (;;) {
      const s = await this.status();
      const rest = s.voters.filter((id) => id !== from);
      const caughtUp = rest.filter((id) => id === s.leaderId || (s.match.get(id) ?? 0) >= s.commit).length;
      if (rest.length > 0 && caughtUp > rest.length / 2) return;
      if (this.now() >= until) {
        throw new MoveStalledError(`shard ${shard}: without ${from}, ${caughtUp} of ${rest.length} voters hold index ${s.commit}: not a majority`);
      }
      await this.sleep(this.pollMs);
    }
  }

  /** Moves the shard's leadership off `node` (to the new replica), if `node` leads. */
  private async leadershipOff(node: string): Promise<void> {
    const { shard, to } = this.move;
    if ((await this.status()).leaderId !== node) return;
    this.step("transfer-leader");
    const until = this.now() + this.options.stepTimeoutMs;
    while ((await this.status()).leaderId === node) {
      if (this.now() >= until) throw new MoveStalledError(`shard ${shard}: the leadership did not leave ${node} within ${this.options.stepTimeoutMs} ms`);
      await this.cluster.transferLeader(shard, to).catch(async (err: unknown) => {
        if (!(err instanceof Error && RETRYABLE.has(err.name))) throw err;
        await this.sleep(this.pollMs);
      });
    }
  }

  /** The group's status from its leader, retried until one answers. */
  private async status(): Promise<GroupStatus> {
    const until = this.now() + this.options.stepTimeoutMs;
    for (;;) {
      const s = await this.cluster.groupStatus(this.move.shard);
      if (s?.leading) return s;
      if (this.now() >= until) throw new MoveStalledError(`shard ${this.move.shard}: no leader answered within ${this.options.stepTimeoutMs} ms`);
      await this.sleep(this.pollMs);
    }
  }

  /** The group's status once no membership change is in progress. */
  private async committedStatus(): Promise<GroupStatus> {
    const until = this.now() + this.options.stepTimeoutMs;
    for (;;) {
      const s = await this.status();
      if (s.membershipCommitted) return s;
      if (this.now() >= until)
        throw new MoveStalledError(`shard ${this.move.shard}: a membership change stayed in progress for ${this.options.stepTimeoutMs} ms`);
      await this.sleep(this.pollMs);
    }
  }

  /** One membership change, retried while it may work later; done once the group's committed configuration shows it. */
  private async change(c: ConfChange, done: (s: GroupStatus) => boolean): Promise<void> {
    const until = this.now() + this.options.stepTimeoutMs;
    let last = "";
    for (;;) {
      const g = await this.status();
      if (done(g)) {
        if (g.membershipCommitted) return;
        last = "the change is not committed yet";
      } else {
        try {
          await this.cluster.changeMembership(this.move.shard, c);
          continue;
        } catch (err) {
          const retryable = err instanceof Error && RETRYABLE.has(err.name) && !(err as { invalid?: boolean }).invalid;
          if (!retryable) throw err;
          last = err.message;
        }
      }
      if (this.now() >= until)
        throw new MoveStalledError(`shard ${this.move.shard}: ${c.kind} ${c.node} did not commit within ${this.options.stepTimeoutMs} ms: ${last}`);
      await this.sleep(this.pollMs);
    }
  }
}
