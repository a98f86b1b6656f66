import type { Command } from "@distcache/proto/raft";
import type { CommandResult, ShardStateMachine } from "../state-machine/shard-state-machine.js";

/** The operation part of a replicated command; the consensus layer adds stamp and index. */
export type CommandOp = Command["op"];

export interface SessionHeader {
  sessionId: string;
  sequence: bigint;
  ackedSequence: bigint;
  sessionStartedMs: bigint;
}

export interface ShardStatus {
  appliedIndex: number;
  term: number;
  leaderId: string;
}

/**
 * The consensus port: how the service layer replicates writes and orders reads.
 * Implemented by MultiRaft: one Raft group per shard (a standalone node is a cluster of one).
 */
export interface ConsensusPort {
  /** Replicates op on shard, applies it once committed, and resolves with the result. */
  propose(shard: number, op: CommandOp, session?: SessionHeader): Promise<CommandResult>;
  /**
   * Resolves once a strong read of shard may be served from the local replica: it applied
   * past the read index (ReadIndex), and its last applied stamp, at which the read judges
   * expiry, trails cluster time by at most the read stamp lag (invariant 9 of docs/design.md).
   */
  readBarrier(shard: number): Promise<void>;
  /** This node's estimate of shard's time, at which an EVENTUAL read judges expiry (invariant 9 of docs/design.md). */
  clusterTimeMs(shard: number): number;
  /**
   * The local replica's digest (ShardStateMachine.digest()) and the applied index it was
   * taken at, computed in short steps that take turns of the event loop with the node's
   * other background work; one digest at a time per node, later calls wait their turn.
   */
  digest(shard: number): Promise<{ digest: string; appliedIndex: number }>;
  /** The local replica of shard, for serving reads. */
  replica(shard: number): ShardStateMachine;
  status(shard: number): ShardStatus;
  /** Calls `listener` after a local replica applies entries, installs a snapshot, or leaves this node; returns the function that stops it. */
  onApplied(listener: (shard: number) => void): () => void;
  /** Whether this node holds a replica of shard. */
  hosts(shard: number): boolean;
  /** Resolves true once a leader of shard is known here, false after timeoutMs. */
  awaitLeader(shard: number, timeoutMs: number): Promise<boolean>;
  /** Node ids of the voters of the shard's Raft group in force on this node's replica (none for a shard it does not host). */
  voters(shard: number): string[];
  /** Node ids of the learners of the shard's Raft group in force on this node's replica. */
  learners(shard: number): string[];
  /**
   * At the shard's leader: hands leadership to voter `to` (or, when undefined, to the
   * most caught-up follower) and resolves with the new leader's id once this node sees
   * it lead. Rejects with NotLeaderError when this node does not lead the shard, with
   * TransferError when `to` cannot take over or it did not within timeoutMs.
   */
  transferLeadership(shard: number, to: string | undefined, timeoutMs: number): Promise<string>;
  /** Hands keys that local reads found to the leaders of their shards (best effort), which propose them as access hints. */
  forwardAccessSamples(samples: ReadonlyMap<number, readonly string[]>): void;
  readonly shardCount: number;
  close(): Promise<void>;
}
