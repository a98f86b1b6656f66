import { randomBytes, randomInt } from "node:crypto";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import {
  RaftNode,
  SeededRandom,
  asLogIndex,
  asTerm,
  asNodeId,
  entrySizeBytes,
  type ConfChange,
  type InboundMessage,
  type NodeId,
  type RaftStatus,
  type Ready,
  type SoftState,
} from "@distcache/raft";
import type { SnapshotFiles } from "@distcache/raft/snapshot";
import { Store, type StoreOptions } from "@distcache/store";
import type { Logger } from "pino";
import type { CommandOp, ConsensusPort, SessionHeader, ShardStatus } from "./consensus-port.js";
import type { HistoryLimits } from "../state-machine/watch-history.js";
import { ShardStateMachine, type CommandResult } from "../state-machine/shard-state-machine.js";
import type { Clock } from "./clock.js";
import { groupOfShard, isClusterGroup, type GroupLog, type GroupLogWrite, type HostedShard } from "./group-log.js";
import { MembershipChangeError, NotLeaderError, TransferError } from "./port-errors.js";
import { messageProblem, stateProblem } from "./inbound-check.js";
import { PeerWireError, decodePeerBatch, encodePeerBatch, type GroupMessage } from "../peer/wire/peer-wire.js";
import { ReadContexts } from "./read-context.js";
import { ReplicaSnapshots, type PeerSender } from "./replica-snapshots.js";
import { checkReady, type ReadyMode } from "./replica-drain.js";
import { StateWaits } from "./state-waits.js";
import { MemoryRemovedGroups, type RemovedGroups, type RemovedVote } from "./removed-groups.js";
import { ShardReplica } from "./shard-replica.js";
import type { StoreSettings } from "../state-machine/store-settings.js";
import type { PlantedBug } from "../config/testing-switches.js";
import { StaleReadIndexes } from "./planted-bugs.js";
import { decodeSnapshotChunks, isSnapshotFrame } from "../peer/wire/snapshot-wire.js";
import { decodeAccessSamples, encodeAccessSamples, isAccessSamplesFrame } from "../peer/wire/access-samples-wire.js";

/** Committed entry bytes a cycle applies before it yields to the event loop (about 5-10 ms of work). */
const APPLY_BYTES_PER_TURN = 256 * 1024;
/** Entries per append message, at most: a follower catching up from the log gets its tail in pieces. */
const APPEND_BYTES_PER_MESSAGE = 256 * 1024;
/** A group's committed entries per Ready, at most (its Readys follow one another). */
const COMMITTED_BYTES_PER_READY = 256 * 1024;
/**
 * Peer messages one group takes between two of its Readys, at most. Each may queue a
 * response or a few in the core, which asserts it never holds more than a million; correct
 * peers send hundreds (their in-flight windows bound them), so more is a flood.
 */
const INBOUND_PER_READY_MAX = 50_000;
/** Applied entry bytes between two snapshots of a replica when the host names none. */
export const DEFAULT_SNAPSHOT_BYTES = 64 * 1024 * 1024;
/** Keys (or session-table pieces) a digest captures per turn of the event loop, holding its group's applies back (about 10 ms). */
const DIGEST_KEYS_PER_STEP = 20_000;
const NO_BUGS: ReadonlySet<PlantedBug> = new Set();
/**
 * Most strong reads one replica holds by default: as many as the Raft core lets a leader
 * queue (pendingReadIndexRequestsMax), so a follower never sends more than it takes.
 */
export const READS_PENDING_MAX = 4096;

/** How far the stamp a strong read is judged at may trail cluster time, by default. */
export const READ_STAMP_LAG_MS_MAX = 50;

/** Bytes of the random nonce that tells this start of the node from earlier ones in ReadIndex contexts. */
export const INCARNATION_BYTES = 16;

export interface MultiRaftOptions {
  nodeId: string;
  /** The shards this node holds a replica of, with their groups' voters. */
  hostedShards: readonly HostedShard[];
  /** Tombstones of the groups whose replica left this node (default: in memory). */
  removedGroups?: RemovedGroups;
  /** Every node of the cluster, this one included (default: the voters of the hosted shards): the nodes peer messages may come from or name. */
  clusterNodes?: readonly string[];
  shardCount: number;
  /** The node each shard's leadership should rest on (spreads write load); campaigns early. */
  preferredLeaders?: readonly string[];
  groupLog: GroupLog;
  /** Where state-machine snapshots of this node's replicas are kept. */
  snapshotFiles: SnapshotFiles;
  /** Snapshot a replica (and compact its log) once it applied this many entries past its last snapshot... */
  snapshotEntries: number;
  /** ...or this many entry bytes, whichever comes first (default DEFAULT_SNAPSHOT_BYTES). */
  snapshotBytes?: number;
  transport: PeerSender;
  clock: Clock;
  logger: Logger;
  /** What every replica's store starts from before its log is applied: the same on every node. */
  store: Partial<StoreOptions>;
  /** How many change events each replica keeps for watches (default HISTORY_LIMITS_DEFAULT). */
  watchHistory?: HistoryLimits;
  /**
   * Store settings this node proposes as a new group's first command when it is the
   * group's first leader (from its flags); replicated from then on. None: groups keep
   * `store` until a ConfigureStore changes it.
   */
  seed?: StoreSettings;
  /** The Raft tick: every group's node ticks once per this many milliseconds. */
  raftTickMs: number;
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  /** How long a proposal or read may wait before it fails. */
  operationTimeoutMs: number;
  /** Most strong reads one replica holds at once (default READS_PENDING_MAX); more are refused as overloaded. */
  readsPendingMax?: number;
  /**
   * How far the last applied stamp a strong read is judged at may trail cluster time
   * (default READ_STAMP_LAG_MS_MAX); an older one makes the read wait for a time entry.
   */
  readStampLagMsMax?: number;
  /** Largest command one proposal may carry: the largest request, encoded as a command. */
  entryBytesMax: number;
  /** Called when the node can no longer run safely (its log failed to persist). */
  onFatal: (err: unknown) => void;
  /** Keys that reads on a follower found, for a shard this node leads (to propose as access hints). */
  onAccessSamples?: (shard: number, keys: readonly string[]) => void;
  /**
   * A random nonce for this start of the node (INCARNATION_BYTES), carried in every
   * ReadIndex context so a leader's answer to an earlier incarnation settles no read of
   * this one. Drawn from crypto randomness when the host passes none.
   */
  incarnation?: Uint8Array;
  /** Planted bugs (test-only, config/testing-switches.ts); none by default and on every production node. */
  bugs?: ReadonlySet<PlantedBug>;
}

/** A shard's group as one replica sees it (MultiRaft.groupStatus). */
export interface GroupStatus {
  leaderId: string | undefined;
  /** Whether this replica leads the group (match is then filled in). */
  leading: boolean;
  term: number;
  voters: string[];
  learners: string[];
  commit: number;
  /** Whether the configuration in force is committed (no membership change is in progress). */
  membershipCommitted: boolean;
  /** What this replica applied. */
  applied: number;
  /** Leader only: per member, the last index known to match the leader's log. */
  match: ReadonlyMap<string, number>;
}

/**
 * Runs the Raft group of every shard this node hosts: ticks the groups, routes peer
 * messages to them, and drains their Readys together so a whole cycle costs one log
 * append and at most one fsync, and messages to each peer leave as one batch. The
 * ConsensusPort side speaks shards; the driver keys its replicas, the group log and the
 * peer wire by group (groupOfShard).
 */
export class MultiRaft implements ConsensusPort {
  /** Per group, this node's replica of its shard. */
  private readonly replicas = new Map<number, ShardReplica>();
  private readonly appliedListeners = new Set<(shard: number) => void>();
  /** Per group, the commit index found in the log at start: applied before serving. */
  private readonly recoveredCommit = new Map<number, number>();
  private readonly self: NodeId;
  /** The nodes of the cluster: the only ones peer messages may come from or name (a group's own members are in its log). */
  private clusterNodes: Set<string>;
  private leaderHint: (shard: number) => string | undefined = () => undefined;
  private readonly removedGroups: RemovedGroups;
  private readonly incarnation: Uint8Array;
  private readonly waits: StateWaits;
  /** Planted bugs (test-only); none on a production node. */
  private readonly bugs: ReadonlySet<PlantedBug>;
  /** Planted bug unsynced-vote (test-only): hard states held back until their group's next entries, by group. */
  private readonly heldHardStates = new Map<number, NonNullable<Ready["hardState"]>>();
  /** Planted bug stale-read-index: rewrites this leader's ReadIndex answers (test-only). */
  private readonly staleReadIndexes: StaleReadIndexes | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private running = false;
  private closed = false;
  /** Digests run one at a time on this node: each waits for the one before. */
  private digestQueue: Promise<void> = Promise.resolve();
  readonly stats = {
    cycles: 0,
    appends: 0,
    syncs: 0,
    batchesSent: 0,
    messagesSent: 0,
    messagesReceived: 0,
    accessSamplesSent: 0,
    accessSamplesReceived: 0,
    peerFramesRejected: 0,
    /** Peer messages (and snapshot chunks, access samples) for shards this node does not host, dropped. */
    peerMessagesForOtherShards: 0,
  };
  readonly snapshots: ReplicaSnapshots;

  /**
   * Opens every group: restores each replica from the snapshot its log was compacted
   * to (if any), then builds its node, which replays the log after it.
   */
  static async open(options: MultiRaftOptions): Promise<MultiRaft> {
    const multi = new MultiRaft(options);
    const started = performance.now();
    let restored = 0;
    let keys = 0;
    for (const { shard, voters } of options.hostedShards) {
      const group = groupOfShard(shard);
      const storage = options.groupLog.storage(group, voters.map(asNodeId));
      const machine = new ShardStateMachine(shard, new Store(options.store), options.bugs, options.watchHistory);
      await multi.snapshots.restore(group, machine, storage);
      if (machine.appliedIndex > 0) {
        restored++;
        keys += machine.store.size;
      }
      multi.addReplica(shard, voters, machine);
    }
    if (restored > 0)
      options.logger.info({ shards: restored, keys, restoreMs: Math.round(performance.now() - started) }, "replicas restored from their snapshots");
    return multi;
  }

  private constructor(private readonly options: MultiRaftOptions) {
    this.self = asNodeId(options.nodeId);
    this.incarnation = options.incarnation ?? randomBytes(INCARNATION_BYTES);
    this.waits = new StateWaits(options.clock);
    this.bugs = options.bugs ?? NO_BUGS;
    this.staleReadIndexes = this.bugs.has("stale-read-index") ? new StaleReadIndexes() : undefined;
    this.removedGroups = options.removedGroups ?? new MemoryRemovedGroups();
    this.clusterNodes = new Set([options.nodeId, ...(options.clusterNodes ?? options.hostedShards.flatMap((hosted) => hosted.voters))]);
    this.snapshots = new ReplicaSnapshots({
      self: this.self,
      files: options.snapshotFiles,
      groupLog: options.groupLog,
      transport: options.transport,
      logger: options.logger,
      entriesBetween: options.snapshotEntries,
      bytesBetween: options.snapshotBytes ?? DEFAULT_SNAPSHOT_BYTES,
      replica: (group) => this.replicas.get(group),
      deliver: (group, message) => this.deliverHeld(group, message),
      schedule: () => this.schedule(),
      onFatal: options.onFatal,
    });
  }

  private addReplica(shard: number, voters: readonly string[], machine: ShardStateMachine): void {
    const group = groupOfShard(shard);
    const ids = voters.map(asNodeId);
    const storage = this.options.groupLog.storage(group, ids);
    this.recoveredCommit.set(group, storage.initialState().hardState.commit);
    const node = new RaftNode({
      config: {
        id: this.self,
        voters: ids,
        electionTimeoutTicks: this.options.electionTimeoutTicks,
        heartbeatIntervalTicks: this.options.heartbeatIntervalTicks,
        committedEntriesPerReadyBytesMax: COMMITTED_BYTES_PER_READY,
        messageBytesMax: APPEND_BYTES_PER_MESSAGE,
        entryBytesMax: this.options.entryBytesMax,
        appliedIndex: asLogIndex(machine.appliedIndex),
      },
      storage,
      random: new SeededRandom(randomInt(2 ** 31)),
    });
    const contexts = new ReadContexts(this.options.nodeId, this.incarnation, shard);
    const { clock, operationTimeoutMs, readsPendingMax = READS_PENDING_MAX, readStampLagMsMax = READ_STAMP_LAG_MS_MAX, seed } = this.options;
    const applied = (s: number) => this.appliedListeners.forEach((listener) => listener(s));
    const replicaOptions = { clock, operationTimeoutMs, readsPendingMax, readStampLagMsMax, seed, bugs: this.bugs, schedule: () => this.schedule(), applied };
    this.replicas.set(group, new ShardReplica(shard, node, storage, machine, contexts, replicaOptions));
  }

  get shardCount(): number {
    return this.options.shardCount;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.raftTickMs);
    // Campaign at once for the shards this node should lead, so leaders spread evenly
    // instead of going to whichever timer fires first.
    for (const replica of this.replicas.values()) {
      if (this.options.preferredLeaders?.[replica.shard] === this.options.nodeId) replica.node.campaign();
    }
    this.schedule();
  }

  /**
   * Transfers every leadership this node holds to another voter of the group and waits
   * (at most timeoutMs) until it leads nothing, so a planned stop costs no election.
   */
  async handOffLeadership(timeoutMs: number): Promise<void> {
    const deadline = this.options.clock.monotonicMs() + timeoutMs;
    // A group with no other voter has nobody to hand over to.
    const led = () => [...this.replicas.values()].filter((r) => r.role === "leader" && this.voters(r.shard).length > 1);
    for (;;) {
      const leading = led();
      if (leading.length === 0) return;
      const remainingMs = deadline - this.options.clock.monotonicMs();
      if (remainingMs <= 0 || this.closed) break;
      for (const replica of leading) {
        const status = replica.node.status();
        if (status.leadTransferee !== undefined) continue;
        const target = this.mostCaughtUpVoter(status);
        if (target) replica.node.transferLeader(target);
      }
      this.schedule();
      // Until it leads nothing, or a transfer ended without success (start it again).
      await this.waits.until(
        () => led().every((r) => r.node.status().leadTransferee === undefined),
        remainingMs,
        () => this.closed,
        true,
      );
    }
    this.options.logger.warn({ shards: this.ledShards() }, "leadership hand-off timed out");
  }

  /** Resolves once every replica applied what its log already held as committed at start. */
  async recovered(): Promise<void> {
    const caughtUp = () => [...this.replicas.values()].every((r) => r.machine.appliedIndex >= (this.recoveredCommit.get(r.group) ?? 0));
    this.schedule();
    await this.waits.until(caughtUp, Number.POSITIVE_INFINITY, () => this.closed);
  }

  hosts(shard: number): boolean {
    return this.replicas.has(groupOfShard(shard));
  }

  /**
   * Where the leader of a shard this node holds no replica of is believed to be (the
   * cluster view's answer), for the NotLeader answer that forwarding follows; without
   * one, the shard's first bootstrap voter.
   */
  useLeaderHints(hint: (shard: number) => string | undefined): void {
    this.leaderHint = hint;
  }

  private replicaOf(shard: number): ShardReplica {
    const replica = this.replicas.get(groupOfShard(shard));
    if (!replica) throw new NotLeaderError(shard, this.leaderHint(shard) ?? this.options.preferredLeaders?.[shard], "this node holds no replica of the shard");
    return replica;
  }

  /** Runs `use` on shard's replica; a closed node, or one without the replica, rejects (never throws). */
  private withReplica<T>(shard: number, use: (replica: ShardReplica) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new NotLeaderError(shard, undefined, "node is shutting down"));
    try {
      return use(this.replicaOf(shard));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  propose(shard: number, op: CommandOp, session?: SessionHeader): Promise<CommandResult> {
    return this.withReplica(shard, (replica) => replica.propose(op, session, () => this.schedule()));
  }

  /**
   * One membership change of shard's group, proposed at its leader (this node); resolves
   * once it is committed and applied here. Rejects with NotLeaderError off the leader,
   * MembershipChangeError when another change is in progress or this one is invalid,
   * WriteLostError when a new leader replaced it, IndeterminateError on timeout.
   */
  changeMembership(shard: number, change: ConfChange): Promise<void> {
    if (!this.clusterNodes.has(change.node)) {
      return Promise.reject(new MembershipChangeError(`shard ${shard}: ${change.node} is not a node of the cluster`, true));
    }
    return this.withReplica(shard, (replica) => replica.proposeConfChange(change, () => this.schedule()));
  }

  /** Takes `id` as a node of the cluster from now on (one the meta document added): its messages are taken, and it may join groups. */
  addClusterNode(id: string): void {
    this.clusterNodes.add(id);
  }

  /** No longer takes `id`'s messages (a node removed from the cluster), nor lets it join a group. */
  removeClusterNode(id: string): void {
    if (id !== this.options.nodeId) this.clusterNodes.delete(id);
  }

  /**
   * Creates this node's replica of shard's group, new to it, with the group's bootstrap
   * voters (its configuration at index 0, the same on every replica): the group's log is
   * recorded durably first, then the replica starts empty and takes the group's log or a
   * snapshot from its leader once a membership change adds this node. A shard this node
   * already hosts is a no-op.
   */
  addGroup(shard: number, bootstrapVoters: readonly string[]): Promise<void> {
    if (!isClusterGroup(shard, this.options.shardCount)) return Promise.reject(new RangeError(`no shard ${shard} (${this.options.shardCount} shards)`));
    return this.oneAtATime(groupOfShard(shard), () => this.createGroup(shard, bootstrapVoters));
  }

  /**
   * Runs `change` once every earlier addGroup or removeGroup of `group` has finished, so a
   * removal still dropping the old replica's files never drops those of a new one.
   */
  private oneAtATime(group: number, change: () => Promise<void>): Promise<void> {
    const run = (this.groupChanges.get(group) ?? Promise.resolve()).then(change);
    const settled = run.catch(() => undefined);
    this.groupChanges.set(group, settled);
    void settled.then(() => this.groupChanges.get(group) === settled && this.groupChanges.delete(group));
    return run;
  }

  private readonly groupChanges = new Map<number, Promise<void>>();

  private async createGroup(shard: number, bootstrapVoters: readonly string[]): Promise<void> {
    const group = groupOfShard(shard);
    if (this.replicas.has(group)) return;
    if (this.closed) throw new NotLeaderError(shard, undefined, "node is shutting down");
    const ids = bootstrapVoters.map(asNodeId);
    if (this.removedGroups.has(group)) await this.reopenRemoved(shard, ids);
    else await this.options.groupLog.bootstrap(group, ids);
    if (this.replicas.has(group) || this.closed) return;
    const machine = new ShardStateMachine(shard, new Store(this.options.store), this.options.bugs, this.options.watchHistory);
    this.addReplica(shard, bootstrapVoters, machine);
    this.schedule();
  }

  /**
   * A group whose replica left this node, given to it again. Raft knows a replica by its
   * node's id, so the new one, empty, starts from the term and vote the old one left in
   * its tombstone (or in its log, if the node stopped before dropping it): it never votes
   * twice in one term. A tombstone without them (format 1) is refused for good.
   */
  private async reopenRemoved(shard: number, ids: readonly NodeId[]): Promise<void> {
    const group = groupOfShard(shard);
    const tombstone = this.removedGroups.vote(group);
    if (!tombstone) {
      throw new MembershipChangeError(
        `shard ${shard}: this node's replica of the shard was removed before its vote was recorded, so it never comes back`,
        true,
      );
    }
    const log = this.options.groupLog;
    const inLog = log.groups().some((g) => g.group === group) ? log.storage(group, ids).initialState().hardState : undefined;
    // The later promise of the two; in one term, the one that holds a vote.
    const logWins = inLog !== undefined && (inLog.term > tombstone.term || (inLog.term === tombstone.term && inLog.vote !== undefined));
    const hardState = logWins ? inLog : { term: asTerm(tombstone.term), vote: tombstone.vote === undefined ? undefined : asNodeId(tombstone.vote) };
    if (inLog) {
      // Recorded in the tombstone before the log that holds it is dropped.
      await this.removedGroups.add(group, { term: hardState.term, vote: hardState.vote });
      await log.drop(group);
    }
    await log.bootstrap(group, ids);
    await log.append([{ group, hardState: { term: hardState.term, vote: hardState.vote, commit: asLogIndex(0) }, entries: [] }], true);
    await this.removedGroups.delete(group);
    this.options.logger.info({ shard, term: hardState.term }, "a replica of the shard is created here again, from the term and vote of the one that left");
  }

  /**
   * Removes this node's replica of shard's group. Call it only once the group's leader
   * committed a membership change that took this node out (this replica may never learn
   * of that commit: the leader stops talking to it). A tombstone is written first, so a
   * start never re-creates the replica from the placement; then the replica stops (what
   * waits on it fails) and its log and snapshots are dropped. No replica: a no-op.
   */
  removeGroup(shard: number): Promise<void> {
    return this.oneAtATime(groupOfShard(shard), () => this.dropGroup(shard));
  }

  private async dropGroup(shard: number): Promise<void> {
    const group = groupOfShard(shard);
    const replica = this.replicas.get(group);
    if (!replica) return;
    const promised = (): RemovedVote => {
      const { term, vote } = replica.node.status();
      return { term, vote };
    };
    await this.removedGroups.add(group, promised());
    // The driver takes no more of its Readys; once the one it may hold is advanced, the
    // replica leaves the driver, and then what snapshot work it had finishes.
    replica.removing = true;
    await this.waits.until(
      () => !replica.drain.betweenReadyAndAdvance,
      Number.POSITIVE_INFINITY,
      () => this.closed,
    );
    if (this.closed || this.replicas.get(group) !== replica) return;
    // It sends nothing more: what it voted since the tombstone was written is recorded too.
    await this.removedGroups.add(group, promised());
    this.replicas.delete(group);
    this.recoveredCommit.delete(group);
    const reason = `shard ${shard}: the replica left this node`;
    replica.drain.abandon(new Error(reason));
    replica.close(reason);
    this.appliedListeners.forEach((listener) => listener(shard));
    await this.snapshots.settled();
    this.snapshots.forget(group);
    await this.options.groupLog.drop(group);
    await this.options.snapshotFiles.prune(group, 0);
  }

  readBarrier(shard: number): Promise<void> {
    return this.withReplica(shard, (replica) => replica.readBarrier(() => this.schedule()));
  }

  digest(shard: number): Promise<{ digest: string; appliedIndex: number }> {
    return this.withReplica(shard, (replica) => {
      const run = this.digestQueue.then(() => this.digestOf(replica));
      this.digestQueue = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    });
  }

  /**
   * Captures the replica's session hash and store references DIGEST_KEYS_PER_STEP keys
   * per turn through the snapshots' gate, holding the group's Readys back meanwhile (as a
   * snapshot capture does), then hashes the captured entries a step per turn while the
   * group applies again.
   */
  private async digestOf(replica: ShardReplica): Promise<{ digest: string; appliedIndex: number }> {
    const gate = this.snapshots.gate;
    // Fails once the node closes, rather than waiting on for a cycle that will not come.
    const turn = async () => {
      await gate.turn(true);
      if (this.closed) throw new NotLeaderError(replica.shard, undefined, "node is shutting down");
    };
    // Hold the group's Readys, and read it once no Ready taken earlier is in flight.
    const release = await replica.drain.hold();
    let capture;
    try {
      await turn();
      capture = replica.machine.digestCapture();
      while (!capture.step(DIGEST_KEYS_PER_STEP)) await turn();
    } finally {
      release();
      this.schedule();
    }
    for (;;) {
      const digest = capture.hash();
      if (digest !== undefined) return { digest, appliedIndex: capture.index };
      await gate.turn();
    }
  }

  replica(shard: number): ShardStateMachine {
    return this.replicaOf(shard).machine;
  }

  /** Calls `listener` after a replica applies entries, installs a snapshot, or leaves this node; returns the function that stops it. */
  onApplied(listener: (shard: number) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** Strong reads the shard's replica holds, waiting for a read index, for it to apply, or for a time entry. */
  pendingReads(shard: number): { awaitingIndex: number; awaitingApply: number; awaitingStamp: number } {
    return this.replicas.get(groupOfShard(shard))?.pendingReads ?? { awaitingIndex: 0, awaitingApply: 0, awaitingStamp: 0 };
  }

  clusterTimeMs(shard: number): number {
    return this.replicaOf(shard).clusterTimeMs();
  }

  status(shard: number): ShardStatus {
    const replica = this.replicas.get(groupOfShard(shard));
    if (!replica) return { appliedIndex: 0, term: 0, leaderId: "" };
    return { appliedIndex: replica.machine.appliedIndex, term: replica.node.status().term, leaderId: replica.leaderId ?? "" };
  }

  /** The voters of shard's group in force on this node's replica (its log's latest configuration); none if it hosts none. */
  voters(shard: number): string[] {
    return [...(this.replicas.get(groupOfShard(shard))?.node.voters ?? [])];
  }

  /**
   * Shard's group as this node's replica sees it: its configuration in force, and, on
   * the leader, how far each member's log matches (none on a follower). Undefined if this
   * node holds no replica of the shard.
   */
  groupStatus(shard: number): GroupStatus | undefined {
    const replica = this.replicas.get(groupOfShard(shard));
    if (!replica) return undefined;
    const status = replica.node.status();
    const match = new Map([...status.progress, ...status.learnerProgress].map((p) => [p.id as string, p.match as number]));
    return {
      leaderId: status.lead,
      leading: status.role === "leader",
      term: status.term,
      voters: [...status.voters],
      learners: [...status.learners],
      commit: status.commit,
      membershipCommitted: replica.node.confChangesAbove(status.commit) === 0,
      applied: replica.machine.appliedIndex,
      match,
    };
  }

  /** The learners of shard's group in force on this node's replica. */
  learners(shard: number): string[] {
    return [...(this.replicas.get(groupOfShard(shard))?.node.learners ?? [])];
  }

  /** Resolves true once this node knows a leader for shard, false after timeoutMs (or once the node closes). */
  async awaitLeader(shard: number, timeoutMs: number): Promise<boolean> {
    const replica = this.replicas.get(groupOfShard(shard));
    if (!replica) return false;
    return this.waits.until(
      () => replica.leaderId !== undefined,
      timeoutMs,
      () => this.closed,
    );
  }

  /** Shards whose group this node currently leads. */
  ledShards(): number[] {
    return [...this.replicas.values()].filter((r) => r.role === "leader").map((r) => r.shard);
  }

  async transferLeadership(shard: number, to: string | undefined, timeoutMs: number): Promise<string> {
    const replica = this.replicaOf(shard);
    if (replica.role !== "leader") throw new NotLeaderError(shard, replica.leaderId, "leadership moves only at the shard's leader");
    const status = replica.node.status();
    const target = to ?? this.mostCaughtUpVoter(status);
    if (target === undefined) throw new TransferError(`shard ${shard} has no other voter to lead it`, true);
    if (target === this.options.nodeId) return target;
    if (!status.voters.includes(asNodeId(target))) {
      throw new TransferError(`${target} is not a voter of shard ${shard} (voters: ${status.voters.join(", ")})`, true);
    }
    const result = replica.node.transferLeader(asNodeId(target));
    if (!result.accepted) throw new TransferError(`shard ${shard}: transfer to ${target} refused (${result.reason})`, false);
    this.schedule();
    if (
      !(await this.waits.until(
        () => replica.leaderId === target,
        timeoutMs,
        () => this.closed,
      ))
    ) {
      throw new TransferError(
        `shard ${shard}: ${target} did not take over within ${timeoutMs} ms (it may still); leader now ${replica.leaderId ?? "unknown"}`,
        false,
      );
    }
    return target;
  }

  /** The voter other than this node whose log matches the leader's furthest: the quickest to take over. */
  private mostCaughtUpVoter(status: RaftStatus): NodeId | undefined {
    const followers = status.progress.filter((p) => p.id !== this.self && status.voters.includes(p.id));
    return followers.sort((a, b) => b.match - a.match)[0]?.id;
  }

  /**
   * Feeds a frame received from the authenticated peer `from`. A frame no correct peer
   * sends (see inbound-check.ts) throws a PeerWireError, on which the transport closes
   * the connection; messages of the frame before the offending one may have been taken.
   */
  receive(from: string, payload: Uint8Array): void {
    if (this.closed) return;
    try {
      this.acceptFrame(asNodeId(from), payload);
    } catch (err) {
      if (err instanceof PeerWireError) this.stats.peerFramesRejected++;
      throw err;
    }
  }

  private acceptFrame(from: NodeId, payload: Uint8Array): void {
    if (payload.length === 0) throw new PeerWireError("an empty peer frame");
    if (isSnapshotFrame(payload)) return this.acceptSnapshotChunks(from, payload);
    if (isAccessSamplesFrame(payload)) return this.acceptAccessSamples(from, decodeAccessSamples(payload));
    const messages = decodePeerBatch(payload, from, this.self);
    // Every message is checked before any is stepped; what depends on the log is checked
    // right before each step.
    for (const { group, message } of messages) {
      const problem = messageProblem(message, this.clusterNodes);
      if (problem) throw new PeerWireError(`shard ${group}: ${message.type} from ${from}: ${problem}`);
    }
    this.stats.messagesReceived += messages.length;
    try {
      for (const { group, message, clusterTimeMs } of messages) {
        const replica = this.hostedReplica(group, from);
        if (!replica || this.snapshots.hold(group, message)) continue;
        this.step(replica, message);
        if (clusterTimeMs !== undefined) replica.observedLeaderTime(message, clusterTimeMs);
      }
    } finally {
      this.schedule();
    }
  }

  /**
   * The replica of a group this node hosts; undefined (the message is dropped, and
   * counted) for a shard it does not host now, which a peer may still or already think
   * it does while replicas move. A group that is no shard at all is refused.
   */
  private hostedReplica(group: number, from: NodeId): ShardReplica | undefined {
    const replica = this.replicas.get(group);
    if (replica) return replica;
    if (!isClusterGroup(group, this.options.shardCount)) {
      throw new PeerWireError(`${from} sent a frame for group ${group}, which is no group of the cluster`);
    }
    this.stats.peerMessagesForOtherShards++;
    return undefined;
  }

  /** Steps one checked peer message into its group's node, after the checks that depend on the node's log. */
  private step(replica: ShardReplica, message: InboundMessage): void {
    if (++replica.inbound > INBOUND_PER_READY_MAX) {
      throw new PeerWireError(`more than ${INBOUND_PER_READY_MAX} peer messages for shard ${replica.shard} between two of its Readys`);
    }
    const problem = stateProblem(message, replica.node, this.clusterNodes);
    if (problem) throw new PeerWireError(`shard ${replica.shard}: ${message.type} from ${message.from}: ${problem}`);
    replica.node.step(message);
  }

  /** A message held while its group's snapshot was staged: checked again, since the log changed meanwhile. */
  private deliverHeld(group: number, message: InboundMessage): void {
    const replica = this.replicas.get(group);
    if (!replica || this.closed) return;
    try {
      this.step(replica, message);
    } catch (err) {
      if (!(err instanceof PeerWireError)) throw err;
      this.stats.peerFramesRejected++;
      this.options.logger.warn({ peer: message.from, err: err.message }, "dropping a held peer message");
    }
  }

  private acceptSnapshotChunks(from: NodeId, payload: Uint8Array): void {
    const chunks = decodeSnapshotChunks(payload, from, this.self);
    for (const chunk of chunks) {
      const problem = messageProblem(chunk.message, this.clusterNodes);
      if (problem) throw new PeerWireError(`shard ${chunk.group}: snapshot chunk from ${from}: ${problem}`);
    }
    for (const chunk of chunks) if (this.hostedReplica(chunk.group, from)) this.snapshots.accept(from, chunk);
  }

  forwardAccessSamples(samples: ReadonlyMap<number, readonly string[]>): void {
    // By leader, then by group: the peer wire carries group ids.
    const byLeader = new Map<string, Map<number, readonly string[]>>();
    for (const [shard, keys] of samples) {
      const group = groupOfShard(shard);
      const leader = this.replicas.get(group)?.leaderId;
      if (keys.length === 0 || leader === undefined || leader === this.options.nodeId) continue;
      const forLeader = byLeader.get(leader) ?? new Map<number, readonly string[]>();
      forLeader.set(group, keys);
      byLeader.set(leader, forLeader);
    }
    for (const [leader, forLeader] of byLeader) {
      if (this.options.transport.send(leader, encodeAccessSamples(forLeader))) {
        for (const keys of forLeader.values()) this.stats.accessSamplesSent += keys.length;
      }
    }
  }

  /**
   * Samples a follower sent, by group: checked like keys of a request, kept only for
   * shards this node still leads.
   */
  private acceptAccessSamples(from: NodeId, samples: ReadonlyMap<number, readonly string[]>): void {
    const { keyBytesMax, accessHintKeysMax } = PROTOCOL_LIMITS;
    for (const [group, keys] of samples) {
      this.hostedReplica(group, from);
      if (keys.length > accessHintKeysMax)
        throw new PeerWireError(`${keys.length} access samples for shard ${group} from ${from} (at most ${accessHintKeysMax})`);
      for (const key of keys) {
        const bytes = Buffer.byteLength(key, "utf8");
        if (bytes === 0 || bytes > keyBytesMax) throw new PeerWireError(`an access sample of ${bytes} bytes for shard ${group} from ${from}`);
      }
    }
    for (const [group, keys] of samples) {
      const replica = this.replicas.get(group);
      // Kept only from a member of the group (its log's latest configuration).
      if (replica?.role !== "leader" || !(replica.node.voters.includes(from) || replica.node.learners.includes(from))) continue;
      this.stats.accessSamplesReceived += keys.length;
      this.options.onAccessSamples?.(replica.shard, keys);
    }
  }

  private tick(): void {
    for (const replica of this.replicas.values()) {
      replica.node.tick();
      replica.retryTimeEntry();
    }
    this.waits.notify();
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.cycle();
    });
  }

  /** Drains Readys until none is left: persist all, then send, apply and advance. */
  private async cycle(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      for (;;) {
        // Checked before any Ready is taken: a Ready taken is always advanced, since a
        // capture or digest waiting for its group to be between Readys waits for that.
        if (this.closed) break;
        const readies: [ShardReplica, Ready, ReadyMode][] = [];
        for (const replica of this.replicas.values()) {
          if (!replica.drain.canTakeReady || replica.removing) continue;
          // The capture is over: what was committed meanwhile applies first.
          if (!replica.drain.held) {
            const bytes = replica.applyDeferred(entrySizeBytes);
            if (bytes > 0) this.snapshots.maybeTake(replica, bytes);
          }
          // A held replica installs no snapshot: its Ready waits for the release.
          if (replica.drain.held && replica.node.hasPendingSnapshot()) continue;
          const ready = replica.node.ready();
          // The core's message queues were just drained (or were empty).
          replica.inbound = 0;
          if (!ready) continue;
          readies.push([replica, ready, replica.drain.tookReady()]);
        }
        if (readies.length === 0) break;
        await this.process(readies);
      }
    } catch (err) {
      // Readys taken in this cycle may never be advanced: captures waiting on them fail.
      for (const replica of this.replicas.values()) replica.drain.abandon(new Error("the driver stopped after a fatal error"));
      this.options.onFatal(err);
    } finally {
      this.running = false;
      this.waits.notify();
    }
  }

  /** Planted bug unsynced-vote (test-only): a vote answer leaves before its hard state is written. */
  private plantedEarly(message: Ready["messages"][number]): boolean {
    return message.type === "voteResp" && this.bugs.has("unsynced-vote");
  }

  /**
   * Planted bug unsynced-vote (test-only): a hard state alone (a vote, a new term) is held
   * back and written only with the group's next entries or snapshot, so a power loss
   * before them takes it back.
   */
  private plantedHardState(group: number, ready: Ready): Ready["hardState"] {
    if (ready.entries.length === 0 && !ready.snapshot) {
      if (ready.hardState) this.heldHardStates.set(group, ready.hardState);
      return undefined;
    }
    const held = this.heldHardStates.get(group);
    this.heldHardStates.delete(group);
    return ready.hardState ?? held;
  }

  /** A replica's role or leader changed: it settles what that ends, and a new leadership is logged. */
  private onSoftState(replica: ShardReplica, soft: SoftState): void {
    const wasLeader = replica.role === "leader";
    replica.onSoftState(soft);
    if (soft.role === "leader" && !wasLeader) this.options.logger.info({ shard: replica.shard, term: replica.node.term }, "leading the shard");
    else if (soft.role === "candidate") this.options.logger.debug({ shard: replica.shard, term: replica.node.term }, "campaigning");
  }

  /** The messages that may leave before this cycle's append, and the append itself (with whether it must be synced). */
  private takeWrites(readies: readonly [ShardReplica, Ready, ReadyMode][]): { immediate: GroupMessage[]; writes: GroupLogWrite[]; sync: boolean } {
    const immediate: GroupMessage[] = [];
    const writes: GroupLogWrite[] = [];
    let sync = false;
    for (const [replica, ready] of readies) {
      checkReady(replica.shard, replica.nextApplyAfter, ready);
      if (ready.softState) this.onSoftState(replica, ready.softState);
      const clusterTimeMs = replica.leaderTimeForMessages();
      for (const message of ready.immediateMessages) immediate.push({ group: replica.group, message, clusterTimeMs });
      if (this.bugs.size > 0)
        for (const message of ready.messages) if (this.plantedEarly(message)) immediate.push({ group: replica.group, message, clusterTimeMs });
      for (const message of ready.snapshotsToSend) this.snapshots.send(replica.group, message);
      const hardState = this.bugs.has("unsynced-vote") ? this.plantedHardState(replica.group, ready) : ready.hardState;
      if (ready.entries.length > 0 || hardState || ready.snapshot) {
        writes.push({ group: replica.group, snapshot: ready.snapshot, hardState, entries: ready.entries });
      }
      // Planted bug append-without-fsync (test-only): nothing is fsynced.
      sync ||= ready.mustSync && !this.bugs.has("append-without-fsync");
    }
    return { immediate, writes, sync };
  }

  private async process(readies: [ShardReplica, Ready, ReadyMode][]): Promise<void> {
    this.stats.cycles++;
    const { immediate, writes, sync } = this.takeWrites(readies);
    this.send(immediate);
    if (writes.length > 0) {
      this.stats.appends++;
      if (sync) this.stats.syncs++;
      await this.options.groupLog.append(writes, sync);
    }
    // Only now may messages that promise what was just persisted leave (votes, append acks).
    const after: GroupMessage[] = [];
    for (const [replica, ready] of readies) {
      if (ready.messages.length === 0) continue;
      const clusterTimeMs = replica.leaderTimeForMessages();
      for (const message of ready.messages) if (!this.plantedEarly(message)) after.push({ group: replica.group, message, clusterTimeMs });
    }
    this.send(after);
    let appliedBytes = 0;
    for (const [replica, ready, mode] of readies) {
      if (mode === "defer") {
        // A capture reads the replica: its entries apply once the capture is released;
        // reads confirmed meanwhile wait for them (waitingApply).
        replica.defer(ready.committedEntries);
        replica.onReadStates(ready.readStates);
        replica.node.advance(ready);
        replica.drain.advanced();
        continue;
      }
      // Applying is synchronous: after a large share, let the event loop turn (serve
      // requests, move transfers) before the next group's entries.
      if (appliedBytes >= APPLY_BYTES_PER_TURN) {
        appliedBytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      let entryBytes = 0;
      for (const entry of ready.committedEntries) {
        appliedBytes += entry.data.byteLength;
        entryBytes += entrySizeBytes(entry);
      }
      if (ready.snapshot) {
        replica.installSnapshot(await this.snapshots.installable(replica, ready.snapshot));
        this.snapshots.installed(replica.group, ready.snapshot);
        this.options.logger.info({ shard: replica.shard, index: ready.snapshot.index }, "replica restored from the leader's snapshot");
      }
      replica.applyCommitted(ready.committedEntries);
      replica.onReadStates(ready.readStates);
      replica.node.advance(ready);
      replica.drain.advanced();
      if (ready.committedEntries.length > 0) this.snapshots.maybeTake(replica, entryBytes);
    }
    this.snapshots.sweepStale(this.replicas.values());
  }

  /** Sends messages as one batch per destination node. */
  private send(messages: readonly GroupMessage[]): void {
    if (messages.length === 0) return;
    const byPeer = new Map<string, GroupMessage[]>();
    for (const sent of messages) {
      const m = this.staleReadIndexes === undefined ? sent : this.staleReadIndexes.rewrite(sent);
      const list = byPeer.get(m.message.to);
      if (list) list.push(m);
      else byPeer.set(m.message.to, [m]);
    }
    for (const [to, list] of byPeer) {
      this.stats.batchesSent++;
      this.stats.messagesSent += list.length;
      this.options.transport.send(to, encodePeerBatch(list));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const replica of this.replicas.values()) replica.drain.abandon(new Error("node is shutting down"));
    this.waits.notify();
    await this.waits.until(
      () => !this.running,
      Number.POSITIVE_INFINITY,
      () => false,
    );
    for (const replica of this.replicas.values()) replica.close("node is shutting down");
    await this.snapshots.drain();
    await this.options.groupLog.close();
  }
}
