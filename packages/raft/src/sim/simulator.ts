import { RaftAssertionError } from "../assert.js";
import type { RaftConfig } from "../config.js";
import type { Entry } from "../entry.js";
import type { SnapshotMetadata } from "../conf-state.js";
import type { InboundMessage, PeerMessage, SnapshotMessage } from "../message.js";
import { SeededRandom } from "../random.js";
import type { Ready, ReadState } from "../ready.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import type { ClientOp, ClientState } from "./clients.js";
import { ClientPool } from "./clients.js";
import { EventQueue } from "./event-queue.js";
import type { KvSnapshot } from "./kv-state-machine.js";
import { KvStateMachine, encodeCommand, snapshotDigest } from "./kv-state-machine.js";
import { SimNetwork } from "./network.js";
import type { SimOptions } from "./options.js";
import { LIVENESS_ELECTION_TIMEOUTS_MAX, TIME_UNITS_PER_TICK, replayCommand } from "./options.js";
import { SafetyChecker, SafetyViolation } from "./safety-checker.js";
import type { Coverage } from "./coverage.js";
import { emptyCoverage } from "./coverage.js";
import { checkHistories } from "./history-check.js";
import { SimNode } from "./sim-node.js";
import { chooseConfChange } from "./membership-driver.js";
import { decodeConfChange, describeConfChange } from "../membership/conf-change.js";
import type { SimFailure, SimResult } from "./sim-result.js";

type SimEvent =
  | { readonly kind: "tick"; readonly node: SimNode }
  | { readonly kind: "deliver"; readonly message: InboundMessage }
  | {
      readonly kind: "snapshotDone";
      readonly leader: SimNode;
      readonly generation: number;
      readonly message: SnapshotMessage;
      readonly data: KvSnapshot;
      readonly ok: boolean;
    }
  | { readonly kind: "persisted"; readonly node: SimNode; readonly generation: number }
  | { readonly kind: "world" }
  | { readonly kind: "client"; readonly client: ClientState };

/** Bounds on the simulator's own loops: exceeding one is a simulator or core bug. */
const PUMP_ROUNDS_MAX = 10_000;
/** The liveness probe's client timeout, in election timeouts. */
const LIVENESS_OP_TIMEOUT_ELECTIONS = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A deterministic simulation of one Raft group (VOPR style). Everything —
 * network, disks, crashes, clients, the nodes' own randomness — derives from
 * `options.seed`, so a failing seed replays exactly.
 */
export class Simulator {
  private readonly options: SimOptions;
  private readonly random: SeededRandom;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly network: SimNetwork;
  private readonly nodes: SimNode[];
  private readonly byId = new Map<NodeId, SimNode>();
  private readonly clients: ClientPool;
  private readonly checker = new SafetyChecker();
  private readonly trace: ((line: string) => void) | undefined;
  private readonly pendingTransfers = new Set<NodeId>();
  /** Every accepted proposal by log index, to learn the fate of writes whose clients gave up. */
  private readonly proposalsByIndex = new Map<LogIndex, { readonly term: Term; readonly opId: number }[]>();
  private readonly safetyEndUnits: number;
  private readonly livenessEndUnits: number;
  private now = 0;
  private healed = false;
  private livenessWriteDone = false;
  private livenessReadDone = false;
  private readonly coverage: Coverage = emptyCoverage();
  /** Index of the latest accepted membership change naming each server. */
  private readonly lastChangeIndexByNode = new Map<NodeId, LogIndex>();
  /** Config entries some server applied, by index: counted once each. */
  private readonly configsApplied = new Set<LogIndex>();
  /** The random seed each server's first process starts with (drawn up front, so the schedule is fixed). */
  private readonly startSeeds: readonly number[];

  constructor(options: SimOptions, trace?: (line: string) => void) {
    this.options = options;
    this.trace = trace;
    this.random = new SeededRandom(options.seed);
    this.network = new SimNetwork(options.network, new SeededRandom(this.random.nextUint32()));
    this.clients = new ClientPool(options.clients, new SeededRandom(this.random.nextUint32()));
    const ids = Array.from({ length: options.nodeCount }, (_, i) => `n${i + 1}` as NodeId);
    // Every server starts with the same bootstrap membership, those outside it too (config.ts).
    const voters = ids.slice(0, options.initialVoterCount);
    this.nodes = ids.map((id) => new SimNode(id, this.raftConfig(id, voters), options.disk));
    this.startSeeds = this.nodes.map(() => this.random.nextUint32());
    for (const node of this.nodes) this.byId.set(node.id, node);
    this.safetyEndUnits = options.safetyTicks * TIME_UNITS_PER_TICK;
    this.livenessEndUnits = this.safetyEndUnits + LIVENESS_ELECTION_TIMEOUTS_MAX * options.raft.electionTimeoutTicks * TIME_UNITS_PER_TICK;
  }

  private raftConfig(id: NodeId, voters: readonly NodeId[]): RaftConfig {
    return { id, voters, ...this.options.raft, testingBugs: this.options.bugs };
  }

  private log(line: string): void {
    this.trace?.(`[${(this.now / TIME_UNITS_PER_TICK).toFixed(1)}] ${line}`);
  }

  async run(): Promise<SimResult> {
    const { seed, nodeCount, raft, network, faults, clients } = this.options;
    this.trace?.(`seed=${seed} nodes=${nodeCount} raft=${JSON.stringify(raft)}`);
    this.trace?.(`network=${JSON.stringify(network)}`);
    this.trace?.(`faults=${JSON.stringify(faults)} clients=${JSON.stringify(clients)} disk=${JSON.stringify(this.options.disk)}`);
    let failure: SimFailure | undefined;
    try {
      for (const [i, node] of this.nodes.entries()) await node.start(this.startSeeds[i]!);
      this.schedule();
      await this.loop();
      this.finishClients();
      failure = this.checkHistories();
    } catch (error) {
      failure = this.classify(error);
    }
    this.coverage.elections = this.checker.electionCount;
    this.coverage.entriesApplied = this.checker.appliedCount;
    this.coverage.messagesSent = this.network.stats.sent;
    this.coverage.messagesDropped = this.network.stats.dropped + this.network.stats.blocked;
    this.coverage.messagesDuplicated = this.network.stats.duplicated;
    this.coverage.writesCompleted = this.clients.completedWrites;
    this.coverage.readsCompleted = this.clients.completedReads;
    this.coverage.indeterminateOps = this.clients.indeterminate;
    if (failure !== undefined) this.log(`FAILED ${failure.kind}: ${failure.message}`);
    return {
      seed: this.options.seed,
      nodeCount: this.options.nodeCount,
      ok: failure === undefined,
      failure,
      coverage: this.coverage,
      replay: replayCommand(this.options),
    };
  }

  private schedule(): void {
    for (const node of this.nodes) this.queue.push(this.random.nextInt(TIME_UNITS_PER_TICK), { kind: "tick", node });
    this.queue.push(0, { kind: "world" });
    for (const client of this.clients.regularClients) this.queue.push(this.clients.thinkTimeUnits(), { kind: "client", client });
  }

  /**
   * One event at a time, each handled to the end, disk writes included: they
   * go to an in-memory file system and settle within the microtask queue, so
   * the run stays a pure function of the seed.
   */
  private async loop(): Promise<void> {
    for (;;) {
      const next = this.queue.pop();
      if (next === undefined) return;
      this.now = next.time;
      if (!this.healed && this.now >= this.safetyEndUnits) await this.heal();
      if (this.livenessWriteDone && this.livenessReadDone) return;
      if (this.now > this.livenessEndUnits) {
        throw new LivenessFailure(`no ${this.livenessWriteDone ? "read" : "commit"} within ${LIVENESS_ELECTION_TIMEOUTS_MAX} election timeouts after healing`);
      }
      const pending = this.handle(next.item);
      if (pending !== undefined) await pending;
    }
  }

  /** Returns a promise only for events that touch a disk. */
  private handle(event: SimEvent): Promise<void> | undefined {
    switch (event.kind) {
      case "tick":
        this.queue.push(this.now + TIME_UNITS_PER_TICK, event);
        event.node.raft?.tick();
        this.afterNode(event.node);
        return undefined;
      case "deliver":
        this.deliver(event.message);
        return undefined;
      case "snapshotDone":
        this.finishSnapshotTransfer(event.leader, event.generation, event.message, event.data, event.ok);
        return undefined;
      case "persisted":
        if (event.node.generation !== event.generation || event.node.inflight === undefined) return undefined;
        return this.persisted(event.node);
      case "world":
        this.queue.push(this.now + TIME_UNITS_PER_TICK, event);
        return this.world();
      case "client":
        this.clientAct(event.client);
        return undefined;
    }
  }

  private async persisted(node: SimNode): Promise<void> {
    await this.completePersist(node);
    this.afterNode(node);
    this.maybeCrashAfterWrite(node);
  }

  private deliver(message: InboundMessage): void {
    const node = this.byId.get(message.to)!;
    if (node.raft === undefined || this.network.isBlocked(message.from, message.to)) return;
    node.raft.step(message);
    this.afterNode(node);
  }

  private send(message: PeerMessage): void {
    this.network.send(message, (delayUnits, m) => this.queue.push(this.now + delayUnits, { kind: "deliver", message: m }));
  }

  /**
   * After every step of a node: check the invariants it may have touched, then
   * drain its Ready. The check comes first so a crash can strike between a
   * decision and the messages that announce it.
   */
  private afterNode(node: SimNode): void {
    if (this.checkNode(node) && this.faultAtLeaderEvent(node)) return;
    this.pump(node);
    if (this.checkNode(node)) this.faultAtLeaderEvent(node);
  }

  /** Crashes the leader, or moves the partition so it is isolated, at the worst moment. */
  private faultAtLeaderEvent(node: SimNode): boolean {
    if (this.healed || !this.random.chance(this.options.faults.leaderEventFaultRate)) return false;
    if (this.random.chance(0.5)) {
      this.network.heal();
      this.isolate(node.id);
      this.coverage.partitions += 1;
      this.log(`partition: leader ${node.id} isolated as it acts`);
      return false; // still up: its Ready drains into the cut links
    }
    if (this.nodes.filter((n) => n.up).length <= 1) return false;
    this.crash(node);
    node.restartAtUnits = this.now + this.random.between(1, this.options.faults.restartDelayTicksMax) * TIME_UNITS_PER_TICK;
    return true;
  }

  private isolate(id: NodeId): void {
    for (const other of this.nodes) {
      if (other.id === id) continue;
      this.network.cut(id, other.id);
      this.network.cut(other.id, id);
    }
  }

  private pump(node: SimNode): void {
    for (let round = 0; round < PUMP_ROUNDS_MAX; round += 1) {
      const raft = node.raft;
      if (raft === undefined || node.inflight !== undefined) return;
      const ready = raft.ready();
      if (ready === undefined) return;
      this.observeReady(node, ready);
      for (const message of ready.immediateMessages) this.send(message);
      for (const message of ready.snapshotsToSend) this.startSnapshotTransfer(node, message);
      // Only a Ready that writes something waits for the disk (its write is an event of its own).
      const writes = ready.entries.length > 0 || ready.hardState !== undefined || ready.snapshot !== undefined;
      if (!writes) {
        this.finishReady(node, ready);
        continue;
      }
      node.inflight = ready;
      const max = this.options.faults.diskLatencyMaxUnits;
      const latency = max === 0 ? 0 : this.random.nextInt(max + 1);
      this.queue.push(this.now + latency, { kind: "persisted", node, generation: node.generation });
      return;
    }
    throw new Error(`node ${node.id} produced Readys without end`);
  }

  private observeReady(node: SimNode, ready: Ready): void {
    const first = ready.entries[0];
    if (first !== undefined) {
      const prevTerm = node.raft!.termAt((first.index - 1) as LogIndex) ?? (0 as Term);
      this.checker.observeAppend(node.id, ready.entries, prevTerm);
    }
  }

  /** The host's persist step finished: the Ready's entries and hard state are durable. */
  private async completePersist(node: SimNode): Promise<void> {
    const ready = node.inflight!;
    // The snapshot's data is saved before the log points at it (the host's order, ready.ts).
    if (ready.snapshot !== undefined) this.installSnapshot(node, ready.snapshot);
    await node.persist(ready);
    node.inflight = undefined;
    this.finishReady(node, ready);
  }

  /** Ready steps 3–5: send what promised the write, apply, answer reads, advance. */
  private finishReady(node: SimNode, ready: Ready): void {
    const raft = node.raft!;
    for (const message of ready.messages) this.send(message);
    for (const entry of ready.committedEntries) this.apply(node, entry);
    for (const readState of ready.readStates) this.onReadState(node, readState);
    this.serveReads(node);
    raft.advance(ready);
  }

  // ---- snapshots (thesis §5.1–§5.3) ----

  /**
   * The leader's host streams its snapshot's data to the follower, out of band:
   * it takes a while, fails if the link is cut or the packet simulator drops
   * it, and ends with the data delivered and the metadata stepped into the
   * follower, then the outcome reported to the leader.
   */
  private startSnapshotTransfer(leader: SimNode, message: SnapshotMessage): void {
    const stored = leader.snapshot;
    if (stored === undefined || stored.meta.index !== message.snapshot.index) {
      throw new Error(`${leader.id} sends a snapshot at ${message.snapshot.index} but holds ${stored?.meta.index ?? "none"}`);
    }
    this.coverage.snapshotsSent += 1;
    const ok = !this.network.isBlocked(message.from, message.to) && !this.random.chance(this.options.network.dropRate);
    const durationUnits = this.random.between(1, this.options.faults.snapshotTransferTicksMax * TIME_UNITS_PER_TICK);
    this.log(`${leader.id} sends snapshot ${message.snapshot.index} to ${message.to}${ok ? "" : " (it will fail)"}`);
    const event = { kind: "snapshotDone" as const, leader, generation: leader.generation, message, data: stored.data, ok };
    this.queue.push(this.now + durationUnits, event);
  }

  private finishSnapshotTransfer(leader: SimNode, generation: number, message: SnapshotMessage, data: KvSnapshot, ok: boolean): void {
    const follower = this.byId.get(message.to)!;
    const delivered = ok && follower.raft !== undefined && !this.network.isBlocked(message.from, message.to);
    if (delivered) {
      follower.receivedSnapshots.set(message.snapshot.index, data);
      this.deliver(message);
    }
    // A leader that crashed since has forgotten the transfer: nobody reports it.
    if (leader.generation !== generation || leader.raft === undefined) return;
    if (!delivered) this.coverage.snapshotsFailed += 1;
    leader.raft.reportSnapshot(message.to, delivered);
    this.afterNode(leader);
  }

  /** Ready step 2 and the start of step 4 for a received snapshot: persist its data and the log's new start, restore the state machine. */
  private installSnapshot(node: SimNode, meta: SnapshotMetadata): void {
    const data = node.receivedSnapshots.get(meta.index);
    if (data === undefined) throw new Error(`${node.id} must install snapshot ${meta.index} but never received its data`);
    node.receivedSnapshots.delete(meta.index);
    this.checker.observeSnapshot(node.id, meta.index, meta.term, snapshotDigest(data));
    node.snapshot = { meta, data };
    node.machine = new KvStateMachine(data);
    this.coverage.snapshotsInstalled += 1;
    this.log(`${node.id} installs snapshot ${meta.index}/${meta.term}`);
    // Writes proposed here at covered indexes were never applied here: their clients cannot learn the outcome.
    for (const [index, pending] of node.pendingWrites) {
      if (index > meta.index) continue;
      node.pendingWrites.delete(index);
      this.abandonOp(pending.op);
    }
  }

  /** The placement driver asks the leader for the next membership change (thesis §4.1). */
  private async changeMembership(): Promise<void> {
    const leader = this.currentLeader();
    if (leader === undefined) return;
    const status = leader.raft!.status();
    // Caught up: holds the leader's committed log (as a placement driver would read from the leader's progress).
    const caughtUp = (id: NodeId): boolean => {
      const learner = status.learnerProgress.find((p) => p.id === id);
      if (learner !== undefined) return learner.match >= status.commit;
      return (this.byId.get(id)?.raft?.termAt(status.commit) ?? -1) === leader.raft!.termAt(status.commit);
    };
    const change = chooseConfChange(
      status,
      this.nodes.map((n) => n.id),
      leader.id,
      caughtUp,
      this.random,
    );
    if (change === undefined) return;
    const result = leader.raft!.proposeConfChange(change);
    if (result.accepted) {
      this.lastChangeIndexByNode.set(change.node, result.index);
      const target = this.byId.get(change.node)!;
      if (change.kind !== "removeNode" && target.retired) await this.unretire(target);
      this.coverage.configChangesProposed += 1;
      if (change.kind === "removeNode" && change.node === leader.id) this.coverage.leadersRemoved += 1;
      this.log(`${leader.id} proposes ${describeConfChange(change)} at ${result.index}`);
    } else {
      this.coverage.configChangesRejected += 1;
    }
    this.afterNode(leader);
  }

  /** Counts each membership change once, when some server first applies it. */
  private noteConfigApplied(entry: Entry): void {
    if (this.configsApplied.has(entry.index)) return;
    this.configsApplied.add(entry.index);
    const change = decodeConfChange(entry.data);
    if (typeof change === "string") throw new Error(`config entry ${entry.index}: ${change}`);
    this.coverage.configChangesApplied += 1;
    if (change.kind === "addLearner") this.coverage.learnersAdded += 1;
    if (change.kind === "promoteLearner") this.coverage.learnersPromoted += 1;
    if (change.kind === "removeNode") {
      this.coverage.nodesRemoved += 1;
      this.maybeRetire(change.node, entry.index);
    }
  }

  /**
   * A removed server that keeps running can disrupt the group when neither
   * PreVote nor CheckQuorum is on (thesis §4.2.3): it never hears from the
   * leader, so it campaigns with ever higher terms. Hosts stop removed
   * replicas; this one does so only in that configuration, so other seeds
   * show that lingering removed servers are harmless. A retired server
   * starts again (with its old disk) if it is added back.
   */
  private maybeRetire(id: NodeId, removedAt: LogIndex): void {
    if (this.options.raft.preVote || this.options.raft.checkQuorum) return;
    if ((this.lastChangeIndexByNode.get(id) ?? 0) > removedAt) return; // already being added back
    const node = this.byId.get(id)!;
    node.retired = true;
    this.log(`${id} retires: its removal committed`);
    if (node.up) for (const op of node.crash()) this.abandonOp(op);
  }

  private async unretire(node: SimNode): Promise<void> {
    node.retired = false;
    this.log(`${node.id} comes back to be added again`);
    if (!node.up) await this.restart(node);
  }

  /** The host's state machine saves a snapshot at its applied index, then the log is compacted to it (thesis §5.1). */
  private async compactSomeNode(): Promise<void> {
    const faults = this.options.faults;
    const candidates = this.nodes.filter((n) => {
      if (n.raft === undefined || n.inflight !== undefined) return false;
      return n.machine.applied - (n.snapshot?.meta.index ?? 0) >= faults.compactMinEntries;
    });
    if (candidates.length === 0) return;
    const node = this.random.pick(candidates);
    const data = node.machine.snapshot();
    const meta = node.raft!.snapshotMetadata(data.applied);
    this.checker.observeSnapshot(node.id, meta.index, meta.term, snapshotDigest(data));
    node.snapshot = { meta, data };
    await node.compact(meta);
    this.coverage.compactions += 1;
    this.log(`${node.id} compacts its log to ${meta.index}/${meta.term}`);
  }

  private apply(node: SimNode, entry: Entry): void {
    this.checker.observeApply(node.id, entry);
    if (entry.kind === "config") this.noteConfigApplied(entry);
    const result = node.machine.apply(entry);
    this.resolveProposals(entry, result?.output);
    const pending = node.pendingWrites.get(entry.index);
    if (pending === undefined) return;
    node.pendingWrites.delete(entry.index);
    // Raft guarantees the entry applied at this index is ours iff its term matches.
    if (pending.term === entry.term) this.completeOp(pending.op, result?.output);
    else this.discardOp(pending.op);
  }

  /** The first apply of an index decides every proposal made at it (state machine safety is checked separately). */
  private resolveProposals(entry: Entry, output: number | undefined): void {
    const proposals = this.proposalsByIndex.get(entry.index);
    if (proposals === undefined) return;
    this.proposalsByIndex.delete(entry.index);
    for (const proposal of proposals) {
      if (proposal.term === entry.term) this.clients.settle(proposal.opId, this.now, output);
      else this.clients.prune(proposal.opId);
    }
  }

  private onReadState(node: SimNode, readState: ReadState): void {
    const pending = node.pendingReads.get(decoder.decode(readState.context));
    if (pending !== undefined) pending.index = readState.index;
  }

  private serveReads(node: SimNode): void {
    for (const [context, read] of node.pendingReads) {
      if (read.index === undefined || read.index > node.machine.applied) continue;
      node.pendingReads.delete(context);
      const op = read.op;
      this.completeOp(op, op.kind === "read" ? node.machine.readRegister(op.key) : node.machine.readCounter(op.key));
    }
  }

  /** Checks a leader's new leadership and commits. Returns true if either is news. */
  private checkNode(node: SimNode): boolean {
    const raft = node.raft;
    if (raft === undefined || raft.role !== "leader") return false;
    let news = false;
    const termAt = (index: LogIndex): Term | undefined => raft.termAt(index);
    if (this.checker.observeLeader(node.id, raft.term, termAt, (raft.firstIndex - 1) as LogIndex)) {
      news = true;
      node.leaderTerm = raft.term;
      node.countedCommitFrom = raft.commit;
      this.coverage.termMax = Math.max(this.coverage.termMax, raft.term);
      this.log(`${node.id} leads term ${raft.term}`);
      if (this.pendingTransfers.delete(node.id)) this.coverage.transfersCompleted += 1;
    }
    if (raft.commit > node.leaderCommitSeen) {
      news = true;
      this.checker.observeLeaderCommit(raft.term, node.leaderCommitSeen, raft.commit, termAt);
      node.leaderCommitSeen = raft.commit;
      if (node.leaderTerm === raft.term && raft.commit > node.countedCommitFrom) this.checkCommitQuorum(node);
    }
    return news;
  }

  /** The leader advanced its commit index by counting: a quorum of its voters must hold the entry on disk. */
  private checkCommitQuorum(node: SimNode): void {
    const raft = node.raft!;
    const index = raft.commit;
    const term = raft.termAt(index)!;
    const holds = (voter: NodeId): boolean => {
      const storage = this.byId.get(voter)!.storage;
      if (storage === undefined) return false;
      if (storage.snapshot().index >= index) return true;
      return storage.lastIndex() >= index && storage.term(index) === term;
    };
    this.checker.observeQuorumCommit(node.id, index, term, raft.voters, holds);
  }

  // ---- the world: faults, restarts, client deadlines, liveness ----

  /** Returns a promise only when some step touches a disk (most ticks need none, and awaiting costs). */
  private world(): Promise<void> | undefined {
    if (!this.healed) this.injectFaults();
    const compact = this.random.chance(this.options.faults.compactRate);
    const change = !this.healed && this.random.chance(this.options.faults.membershipRate);
    const restarts = this.nodes.filter((n) => !n.up && !n.retired && n.restartAtUnits !== undefined && n.restartAtUnits <= this.now);
    if (compact || change || restarts.length > 0) return this.worldWithDisks(compact, change, restarts);
    this.worldWithoutDisks();
    return undefined;
  }

  private async worldWithDisks(compact: boolean, change: boolean, restarts: readonly SimNode[]): Promise<void> {
    if (compact) await this.compactSomeNode();
    if (change) await this.changeMembership();
    for (const node of restarts) if (!node.up && !node.retired) await this.restart(node);
    this.worldWithoutDisks();
  }

  private worldWithoutDisks(): void {
    for (const client of this.clients.clients) {
      const op = client.pending;
      if (op !== undefined && op.deadline <= this.now) this.abandonOp(op);
    }
    if (this.healed) this.driveLiveness();
  }

  private injectFaults(): void {
    const faults = this.options.faults;
    if (this.random.chance(faults.crashRate)) this.crashSomeNode();
    if (this.random.chance(faults.partitionRate)) this.partition();
    if (this.network.partitioned && this.random.chance(faults.healRate)) {
      this.network.heal();
      this.coverage.heals += 1;
      this.log("network healed");
    }
    if (this.random.chance(faults.transferRate)) this.transfer();
  }

  /**
   * Right after a write completed and its messages left: the moment that
   * shows whether the write was synced when it had to be (a crash loses
   * unsynced bytes).
   */
  private maybeCrashAfterWrite(node: SimNode): void {
    if (this.healed || !node.up || !this.random.chance(this.options.faults.crashAfterWriteRate)) return;
    if (this.nodes.filter((n) => n.up).length <= 1) return;
    this.crash(node);
    node.restartAtUnits = this.now + this.random.between(1, this.options.faults.restartDelayTicksMax) * TIME_UNITS_PER_TICK;
  }

  private crashSomeNode(): void {
    const up = this.nodes.filter((n) => n.up);
    if (up.length <= 1) return;
    const victim = this.pickVictim(up);
    this.crash(victim);
    victim.restartAtUnits = this.now + this.random.between(1, this.options.faults.restartDelayTicksMax) * TIME_UNITS_PER_TICK;
  }

  /** Chooses whom a fault hits: often the leader, often a node in the middle of a write, else anyone. */
  private pickVictim(candidates: readonly SimNode[]): SimNode {
    const faults = this.options.faults;
    const leader = this.currentLeader();
    if (leader !== undefined && candidates.includes(leader) && this.random.chance(faults.leaderFaultBias)) return leader;
    const writing = candidates.filter((n) => n.inflight !== undefined);
    if (writing.length > 0 && this.random.chance(faults.crashDuringWriteBias)) return this.random.pick(writing);
    return this.random.pick(candidates);
  }

  private crash(node: SimNode): void {
    this.coverage.crashes += 1;
    this.log(`${node.id} crashes${node.inflight !== undefined ? " during a write" : ""}`);
    for (const op of node.crash()) this.abandonOp(op);
  }

  private async restart(node: SimNode): Promise<void> {
    this.coverage.restarts += 1;
    await node.start(this.random.nextUint32());
    this.log(`${node.id} restarts at term ${node.raft!.term}`);
    this.afterNode(node);
  }

  private partition(): void {
    const ids = this.nodes.map((n) => n.id);
    const shape = this.random.nextInt(3);
    this.coverage.partitions += 1;
    // Half the time the network changes shape rather than breaking further:
    // the old cut heals as the new one appears (e.g. isolation moves from the old leader to the new one).
    if (this.random.chance(0.5)) this.network.heal();
    if (shape === 0) {
      // Isolate one node both ways.
      const lonely = this.pickVictim(this.nodes).id;
      this.isolate(lonely);
      this.log(`partition: ${lonely} isolated`);
    } else if (shape === 1) {
      // A random split into two sides.
      const side = new Set(ids.filter(() => this.random.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.network.cut(a, b);
      this.log(`partition: {${[...side].join(",")}} | rest`);
    } else {
      // One-way: `from` can no longer reach some nodes, which still reach it.
      const from = this.random.pick(ids);
      const cut = ids.filter((id) => id !== from && this.random.chance(0.6));
      for (const to of cut) this.network.cut(from, to);
      this.log(`partition: ${from} -> {${cut.join(",")}} cut one way`);
    }
  }

  private transfer(): void {
    const leader = this.currentLeader();
    if (leader === undefined) return;
    const target = this.random.pick(this.nodes.filter((n) => n !== leader)).id;
    const up = this.nodes.filter((n) => n.up);
    const requester = this.random.chance(0.5) ? leader : this.random.pick(up);
    const result = requester.raft!.transferLeader(target);
    if (result.accepted) {
      this.coverage.transfersRequested += 1;
      this.pendingTransfers.add(target);
      this.log(`transfer to ${target} requested at ${requester.id}`);
    }
    this.afterNode(requester);
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.nodes) {
      if (node.raft?.role === "leader" && (best === undefined || node.raft.term > best.raft!.term)) best = node;
    }
    return best;
  }

  private async heal(): Promise<void> {
    this.healed = true;
    this.network.makeReliable();
    for (const node of this.nodes) if (!node.up && !node.retired) await this.restart(node);
    this.log("safety phase over: healed, restarted every node; liveness phase");
  }

  private driveLiveness(): void {
    this.coverage.livenessTicks += 1;
    const client = this.clients.livenessClient;
    if (client.pending !== undefined) return;
    const leader = this.currentLeader();
    if (leader === undefined) return;
    // A generous timeout: the op may wait behind the backlog, or die with its leader (then we retry).
    const deadline = this.now + LIVENESS_OP_TIMEOUT_ELECTIONS * this.options.raft.electionTimeoutTicks * TIME_UNITS_PER_TICK;
    const op = this.clients.newOp(client, this.now, this.livenessWriteDone ? "read" : "write", "r-live", deadline);
    this.submit(op, leader);
  }

  // ---- clients ----

  private clientAct(client: ClientState): void {
    // Regular clients stop once the liveness phase starts, so its probe is not
    // queued behind an ever-growing backlog on a slow network.
    if (client.pending !== undefined || this.healed) return;
    const op = this.clients.newOp(client, this.now);
    const guess = client.leaderGuess === undefined ? undefined : this.byId.get(client.leaderGuess);
    const target = guess === undefined || this.clients.randomTarget() ? this.random.pick(this.nodes) : guess;
    this.submit(op, target);
  }

  private submit(op: ClientOp, node: SimNode): void {
    op.node = node.id;
    const client = this.clients.clients[op.clientId]!;
    const raft = node.raft;
    if (raft === undefined) {
      client.leaderGuess = undefined;
      this.discardOp(op, true);
      return;
    }
    if (op.kind === "write" || op.kind === "incr") {
      const command =
        op.kind === "write"
          ? { opId: op.id, kind: "write" as const, key: op.key, value: op.value }
          : { opId: op.id, kind: "incr" as const, key: op.key, delta: op.delta };
      const result = raft.propose(encodeCommand(command));
      if (!result.accepted) {
        this.coverage.proposalsRejected += 1;
        client.leaderGuess = result.leaderHint;
        this.discardOp(op, true);
      } else {
        client.leaderGuess = node.id;
        node.pendingWrites.set(result.index, { term: result.term, op });
        const atIndex = this.proposalsByIndex.get(result.index);
        if (atIndex === undefined) this.proposalsByIndex.set(result.index, [{ term: result.term, opId: op.id }]);
        else atIndex.push({ term: result.term, opId: op.id });
      }
    } else {
      const context = `read:${op.id}`;
      const result = raft.readIndex(encoder.encode(context));
      if (!result.accepted) {
        client.leaderGuess = result.leaderHint;
        this.discardOp(op, true);
      } else node.pendingReads.set(context, { op, index: undefined });
    }
    this.afterNode(node);
  }

  private completeOp(op: ClientOp, output: string | number | null | undefined): void {
    const client = this.clients.clients[op.clientId]!;
    if (client.pending !== op) return;
    this.clients.complete(op, output, this.now);
    if (client === this.clients.livenessClient) {
      if (op.kind === "write") this.livenessWriteDone = true;
      else this.livenessReadDone = true;
      this.log(`liveness ${op.kind} completed`);
    }
    this.nextClientAct(client);
  }

  /** The op certainly did not happen. `backOff`: it was refused, so wait a tick before trying again. */
  private discardOp(op: ClientOp, backOff = false): void {
    const client = this.clients.clients[op.clientId]!;
    if (client.pending !== op) return;
    this.clients.discard(op);
    this.nextClientAct(client, backOff ? TIME_UNITS_PER_TICK : 0);
  }

  private abandonOp(op: ClientOp): void {
    const client = this.clients.clients[op.clientId]!;
    if (client.pending !== op) return;
    this.clients.abandon(op);
    this.nextClientAct(client);
  }

  private nextClientAct(client: ClientState, extraDelayUnits = 0): void {
    if (client === this.clients.livenessClient) return; // driven by the world tick
    this.queue.push(this.now + extraDelayUnits + this.clients.thinkTimeUnits(), { kind: "client", client });
  }

  private finishClients(): void {
    for (const client of this.clients.clients) if (client.pending !== undefined) this.clients.abandon(client.pending);
    // A proposal no log holds any more can never commit: by the end of the history it did not happen.
    for (const [index, proposals] of this.proposalsByIndex) {
      for (const proposal of proposals) {
        if (!this.nodes.some((node) => node.raft?.termAt(index) === proposal.term)) this.clients.prune(proposal.opId);
      }
    }
  }

  // ---- verdicts ----

  private checkHistories(): SimFailure | undefined {
    const registerHistory = this.clients.registerHistory;
    const counterHistory = this.clients.counterHistory;
    this.coverage.operationsChecked = registerHistory.length + counterHistory.length;
    const verdict = checkHistories(registerHistory, counterHistory);
    this.coverage.linearizabilityUnknown += verdict.unknown;
    if (verdict.failure === undefined) return undefined;
    return { kind: "linearizability", message: verdict.failure, atTick: this.tickNow() };
  }

  private tickNow(): number {
    return Math.floor(this.now / TIME_UNITS_PER_TICK);
  }

  private classify(error: unknown): SimFailure {
    const atTick = this.tickNow();
    if (error instanceof SafetyViolation) return { kind: error.property, message: error.message, atTick };
    if (error instanceof LivenessFailure) return { kind: "liveness", message: error.message, atTick };
    if (error instanceof RaftAssertionError) return { kind: "assertion", message: error.message, atTick };
    const message = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
    return { kind: "error", message, atTick };
  }
}

class LivenessFailure extends Error {
  override readonly name = "LivenessFailure";
}
