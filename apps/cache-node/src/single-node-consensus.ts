import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema } from "@distcache/proto/raft";
import { Store, type StoreOptions } from "@distcache/store";
import { CommandLog, type LogRecord } from "./command-log.js";
import type { CommandOp, ConsensusPort, SessionHeader, ShardStatus } from "./consensus-port.js";
import { ShardStateMachine, type CommandResult } from "./shard-state-machine.js";

export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

interface Pending {
  record: LogRecord;
  resolve: (result: CommandResult) => void;
  reject: (err: unknown) => void;
}

export interface SingleNodeOptions {
  nodeId: string;
  dataDir: string;
  shards: number;
  store: Partial<StoreOptions>;
  clock?: Clock;
  /** Max proposals in one log batch (one write, one fdatasync). */
  batchProposalsMax?: number;
}

/**
 * The consensus port for a one-node deployment. It does what a Raft leader with no
 * followers does: stamps each command, appends it to the log, syncs once per batch,
 * then applies it and answers. The log uses the exact replicated command format, so
 * replaying it rebuilds the same state.
 */
export class SingleNodeConsensus implements ConsensusPort {
  private readonly machines: ShardStateMachine[];
  private readonly nextIndex: number[];
  private lastStampMs = 0;
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;
  private readonly clock: Clock;
  private readonly batchProposalsMax: number;

  private constructor(
    private readonly options: SingleNodeOptions,
    private readonly log: CommandLog,
  ) {
    this.clock = options.clock ?? systemClock;
    this.batchProposalsMax = options.batchProposalsMax ?? 4096;
    this.machines = Array.from({ length: options.shards }, (_, shard) => new ShardStateMachine(shard, new Store(options.store)));
    this.nextIndex = this.machines.map(() => 1);
  }

  static async open(options: SingleNodeOptions): Promise<{ consensus: SingleNodeConsensus; replayed: number; tornBytes: number }> {
    const { log, recovered } = await CommandLog.open(options.dataDir);
    const consensus = new SingleNodeConsensus(options, log);
    for (const record of recovered.records) consensus.replay(record);
    return { consensus, replayed: recovered.records.length, tornBytes: recovered.tornBytes };
  }

  get shardCount(): number {
    return this.machines.length;
  }

  private replay(record: LogRecord): void {
    const machine = this.machines[record.shard];
    if (!machine) throw new Error(`command log names shard ${record.shard}, but the node has ${this.machines.length} shards; start with the --shards it was created with`);
    machine.apply(record.index, record.command);
    this.nextIndex[record.shard] = record.index + 1;
    this.lastStampMs = Math.max(this.lastStampMs, machine.lastStampMs);
  }

  propose(shard: number, op: CommandOp, session?: SessionHeader): Promise<CommandResult> {
    if (this.closed) return Promise.reject(new Error("node is shutting down"));
    const machine = this.machine(shard);
    // Time never goes backwards across restarts or clock steps: max(wall clock, last stamp).
    this.lastStampMs = Math.max(this.clock.nowMs(), this.lastStampMs);
    const command = create(CommandSchema, {
      stampMs: BigInt(this.lastStampMs),
      sessionId: session?.sessionId ?? "",
      sequence: session?.sequence ?? 0n,
      ackedSequence: session?.ackedSequence ?? 0n,
      op,
    });
    const index = this.nextIndex[shard]!;
    this.nextIndex[shard] = index + 1;
    const record: LogRecord = { shard: machine.shard, index, command: toBinary(CommandSchema, command) };
    return new Promise<CommandResult>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Let the rest of this turn's proposals join the batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Writes queued proposals in batches: one write and one fdatasync each, then applies in log order. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchProposalsMax);
      try {
        await this.log.append(batch.map((p) => p.record));
      } catch (err) {
        // Nothing in this batch is acknowledged; later proposals would leave a gap, so stop.
        this.failAll(batch, err);
        this.failAll(this.queue.splice(0), err);
        this.closed = true;
        break;
      }
      for (const p of batch) {
        try {
          p.resolve(this.machines[p.record.shard]!.apply(p.record.index, p.record.command));
        } catch (err) {
          p.reject(err);
        }
      }
    }
    this.flushing = false;
  }

  private failAll(batch: Pending[], err: unknown): void {
    for (const p of batch) p.reject(err);
  }

  readBarrier(shard: number): Promise<void> {
    this.machine(shard);
    // A single replica applies before it acknowledges, so its state already reflects every
    // acknowledged write: a strong read may be served at once.
    return Promise.resolve();
  }

  replica(shard: number): ShardStateMachine {
    return this.machine(shard);
  }

  status(shard: number): ShardStatus {
    return { appliedIndex: this.machine(shard).appliedIndex, term: 1, leaderId: this.options.nodeId };
  }

  private machine(shard: number): ShardStateMachine {
    const machine = this.machines[shard];
    if (!machine) throw new RangeError(`unknown shard ${shard}`);
    return machine;
  }

  /** Waits for queued proposals to be written and applied, then closes the log. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setImmediate(r));
    await this.log.close();
  }
}
