import { create } from "@bufbuild/protobuf";
import { AccessHintsSchema, NoopSchema } from "@distcache/proto/raft";
import type { Logger } from "pino";
import type { AccessHints } from "./access-hints.js";
import type { ConsensusPort } from "../consensus/consensus-port.js";
import { usesAccessHints } from "../state-machine/store-settings.js";
import { NOOP_SWEEP_ROUNDS_MAX } from "../state-machine/shard-state-machine.js";

export interface BackgroundOptions {
  /** How often an idle shard's leader proposes an empty entry. */
  idleEntryIntervalMs: number;
  accessHintIntervalMs: number;
}

/**
 * Periodic proposals that keep replicated state moving without client writes:
 * empty entries that carry time forward (so expiry advances and the sweep runs), and
 * batches of access hints.
 */
export class Background {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly lastApplied: number[];

  constructor(
    private readonly nodeId: string,
    private readonly consensus: ConsensusPort,
    private readonly hints: AccessHints,
    private readonly options: BackgroundOptions,
    private readonly logger: Logger,
  ) {
    this.lastApplied = Array.from({ length: consensus.shardCount }, () => 0);
  }

  start(): void {
    this.timers.push(setInterval(() => this.proposeIdleEntries(), this.options.idleEntryIntervalMs).unref());
    this.timers.push(setInterval(() => this.proposeHints(), this.options.accessHintIntervalMs).unref());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }

  /**
   * Proposes a no-op on each non-empty shard that applied nothing since the previous
   * round, so time moves on and its expiry sweep runs (an empty shard has nothing to
   * expire), and on each shard holding keys whose TTL ran out: that no-op runs up to
   * NOOP_SWEEP_ROUNDS_MAX sweep steps, so an expired key is removed, and its expire event
   * produced, within about one round of its TTL while under 1,000 keys of a shard fall
   * due per round.
   */
  private proposeIdleEntries(): void {
    for (let shard = 0; shard < this.consensus.shardCount; shard++) {
      if (!this.leads(shard)) continue;
      const applied = this.consensus.status(shard).appliedIndex;
      const idle = applied === this.lastApplied[shard];
      this.lastApplied[shard] = applied;
      const store = this.consensus.replica(shard).store;
      const due = store.hasExpired(this.consensus.clusterTimeMs(shard));
      if (due || (idle && store.size > 0)) {
        this.propose(shard, { case: "noop", value: create(NoopSchema, { sweepRounds: due ? NOOP_SWEEP_ROUNDS_MAX : 1 }) });
        this.lastApplied[shard] = applied + 1;
      }
    }
  }

  /**
   * Only a shard's leader proposes hints: its own samples and those its followers sent.
   * Samples of shards led elsewhere go to their leaders. Only shards whose replicated
   * policy ranks by reads (LRU, LFU) take hints; others drop their samples.
   */
  private proposeHints(): void {
    const elsewhere = new Map<number, string[]>();
    for (const [shard, keys] of this.hints.drain()) {
      if (keys.length === 0 || !this.consensus.hosts(shard) || !usesAccessHints(this.consensus.replica(shard).store.options.policy)) continue;
      if (this.leads(shard)) this.propose(shard, { case: "access", value: create(AccessHintsSchema, { keys }) });
      else if (this.consensus.hosts(shard)) elsewhere.set(shard, keys);
    }
    if (elsewhere.size > 0) this.consensus.forwardAccessSamples(elsewhere);
  }

  private leads(shard: number): boolean {
    return this.consensus.hosts(shard) && this.consensus.status(shard).leaderId === this.nodeId;
  }

  private propose(shard: number, op: Parameters<ConsensusPort["propose"]>[1]): void {
    this.consensus.propose(shard, op).catch((err: unknown) => this.logger.debug({ err, shard }, "background proposal failed"));
  }
}
