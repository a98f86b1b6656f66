import type { RaftTestingBugs } from "../config.js";
import { SeededRandom } from "../random.js";
import type { WalOptions } from "../wal/wal-options.js";

/** Simulated time advances in units; a Raft tick is this many units, so messages and disk writes land between ticks. */
export const TIME_UNITS_PER_TICK = 10;

/** Default length of the safety phase, in ticks. */
export const SAFETY_TICKS_DEFAULT = 3000;

/** The liveness phase must reach a leader, a commit and a read within this many election timeouts after healing. */
export const LIVENESS_ELECTION_TIMEOUTS_MAX = 50;

export interface NetworkOptions {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMinUnits: number;
  readonly delayMaxUnits: number;
  /** Occasional long delays reorder messages across many rounds. */
  readonly spikeRate: number;
  readonly spikeMaxUnits: number;
}

export interface FaultOptions {
  /** Per tick, probability that one node crashes (losing unpersisted state). */
  readonly crashRate: number;
  /** Fraction of crashes aimed at a node with a write in flight (the worst moment). */
  readonly crashDuringWriteBias: number;
  /** Fraction of crashes and isolations aimed at the leader, which forces elections over divergent logs. */
  readonly leaderFaultBias: number;
  /**
   * Probability that a leader crashes, or is isolated, at the instant it wins an
   * election or advances its commit index, before it sends anything: the
   * moments that leave divergent, half-replicated logs behind (paper Figure 8).
   */
  readonly leaderEventFaultRate: number;
  readonly restartDelayTicksMax: number;
  /** Per tick, probability of a new partition (symmetric split, isolation or one-way cut). */
  readonly partitionRate: number;
  readonly healRate: number;
  /** Per tick, probability the leader is asked to transfer leadership. */
  readonly transferRate: number;
  readonly diskLatencyMaxUnits: number;
  /** Per tick, probability that one node snapshots its state machine and compacts its log (thesis §5.1). */
  readonly compactRate: number;
  /** A node compacts only once this many applied entries follow its last snapshot. */
  readonly compactMinEntries: number;
  /** A snapshot transfer takes up to this many ticks; it fails if the link is cut or the packet simulator drops it. */
  readonly snapshotTransferTicksMax: number;
  /** Per tick, probability that the leader is asked for a membership change (thesis §4.1). */
  readonly membershipRate: number;
  /** Per completed disk write, probability that its node crashes right after (losing whatever was not synced). */
  readonly crashAfterWriteRate: number;
}

export interface ClientOptions {
  readonly clientCount: number;
  readonly readRatio: number;
  readonly counterRatio: number;
  readonly thinkTicksMax: number;
  readonly timeoutTicks: number;
  /** Probability a client ignores what it knows and picks any node. */
  readonly randomTargetRate: number;
}

export interface RaftKnobs {
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly messageBytesMax: number;
  readonly inflightMessagesMax: number;
  /**
   * Bounds the leader's backlog. Without it, clients that time out and retry
   * grow the backlog without limit on a slow network, and no liveness bound
   * could hold after healing.
   */
  readonly uncommittedEntriesBytesMax: number;
  /** Small values split applying across many Readys. */
  readonly committedEntriesPerReadyBytesMax: number;
  /** Small values make leaders refuse reads (read-queue-full). */
  readonly pendingReadIndexRequestsMax: number;
}

export interface SimOptions {
  readonly seed: number;
  readonly nodeCount: 3 | 5;
  /** Bootstrap voters: the first this many servers; the others start outside the group. */
  readonly initialVoterCount: number;
  readonly safetyTicks: number;
  readonly raft: RaftKnobs;
  readonly network: NetworkOptions;
  readonly faults: FaultOptions;
  readonly clients: ClientOptions;
  /** The write-ahead log's limits (small segments, so rolls and releases happen). */
  readonly disk: WalOptions;
  /** TEST ONLY: planted bugs applied to every node. */
  readonly bugs: RaftTestingBugs;
}

/**
 * Swarm testing: each seed draws its own fault mix, so some runs are calm and
 * others brutal, and rare combinations still come up across many seeds.
 */
export function swarmOptions(seed: number, nodeCount: 3 | 5, safetyTicks = SAFETY_TICKS_DEFAULT, bugs: RaftTestingBugs = {}): SimOptions {
  const random = new SeededRandom(seed ^ 0x5eed);
  const pickRate = (max: number): number => (random.chance(0.2) ? 0 : random.nextFloat() * max);
  const delayMinUnits = random.between(1, 5);
  // Lockstep replication (one entry per message, one message in flight) opens
  // the longest windows between a follower's ack and the leader's next append.
  const lockstep = random.chance(0.3);
  return {
    seed,
    nodeCount,
    initialVoterCount: nodeCount === 5 && random.chance(0.5) ? 3 : nodeCount,
    safetyTicks,
    raft: {
      electionTimeoutTicks: random.pick([6, 10, 16]),
      heartbeatIntervalTicks: random.between(1, 3),
      preVote: random.chance(0.75),
      checkQuorum: random.chance(0.75),
      messageBytesMax: lockstep ? 1 : random.pick([1, 64, 256, 1 << 20]),
      inflightMessagesMax: lockstep ? 1 : random.pick([1, 2, 4, 256]),
      uncommittedEntriesBytesMax: random.pick([1024, 2048, 4096]),
      committedEntriesPerReadyBytesMax: random.pick([256, 4096, 4 << 20]),
      pendingReadIndexRequestsMax: random.pick([1, 3, 4096]),
    },
    network: {
      dropRate: pickRate(0.2),
      duplicateRate: pickRate(0.1),
      delayMinUnits,
      delayMaxUnits: delayMinUnits + random.between(0, 30),
      spikeRate: pickRate(0.05),
      spikeMaxUnits: random.between(50, 300),
    },
    faults: {
      crashRate: pickRate(0.04),
      crashDuringWriteBias: random.nextFloat(),
      leaderFaultBias: random.nextFloat(),
      leaderEventFaultRate: pickRate(0.5),
      restartDelayTicksMax: random.between(5, 60),
      partitionRate: pickRate(0.03),
      healRate: 0.02 + random.nextFloat() * 0.1,
      transferRate: pickRate(0.02),
      diskLatencyMaxUnits: random.pick([0, 5, 20, 40]),
      // Never zero: without compaction every restart (a new segment each) leaves one more file to recover.
      compactRate: 0.005 + random.nextFloat() * 0.045,
      compactMinEntries: random.pick([1, 5, 20]),
      snapshotTransferTicksMax: random.between(1, 20),
      membershipRate: pickRate(0.03),
      crashAfterWriteRate: pickRate(0.01),
    },
    disk: {
      segmentBytesMax: random.pick([4 << 10, 16 << 10, 64 << 10]),
      recordBytesMax: random.pick([1 << 10, 4 << 10]),
      groupsMax: 1,
    },
    clients: {
      clientCount: random.between(2, 6),
      readRatio: 0.2 + random.nextFloat() * 0.4,
      counterRatio: random.nextFloat() * 0.5,
      thinkTicksMax: random.between(0, 6),
      timeoutTicks: random.between(20, 60),
      randomTargetRate: 0.1 + random.nextFloat() * 0.3,
    },
    bugs,
  };
}

/** Short command-line names for the planted bugs (TEST ONLY). */
export const BUG_FLAGS: Readonly<Record<string, keyof RaftTestingBugs>> = {
  "double-vote": "grantMultipleVotesPerTerm",
  "commit-old-term": "commitPreviousTermByCounting",
  "ack-before-persist": "ackAppendBeforePersist",
  "early-read": "readIndexBeforeOwnTermCommit",
  "unsynced-vote": "voteWithoutSync",
};

/** The one command that replays a run. */
export function replayCommand(options: Pick<SimOptions, "seed" | "nodeCount" | "safetyTicks" | "bugs">): string {
  const ticks = options.safetyTicks === SAFETY_TICKS_DEFAULT ? "" : ` --ticks ${options.safetyTicks}`;
  const bugs = Object.entries(BUG_FLAGS)
    .filter(([, field]) => options.bugs[field] === true)
    .map(([flag]) => ` --bug ${flag}`)
    .join("");
  return `npm run sim -- --seed ${options.seed} --nodes ${options.nodeCount}${ticks}${bugs}`;
}
