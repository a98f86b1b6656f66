import { PROTOCOL_LIMITS } from "@distcache/proto/limits";

/**
 * Numbers the writes of one client session (DESIGN invariant 4). Every write RPC takes
 * the next sequence and keeps it across its retries, so the cluster can recognise a
 * repeat. Many writes may be in flight; the acknowledged watermark is the highest
 * sequence at or below which every write has finished, so the cluster may drop the
 * responses it keeps for them.
 *
 * A session is replaced, never reset: when a shard reports it expired (or its sequences
 * run out), the client starts a new WriteSession (new id, sequences from 1, watermark 0)
 * for later writes, and writes still in flight finish on the session they began on.
 */
export class WriteSession {
  private nextSequence = 1n;
  private watermark = 0n;
  /** Finished sequences above the watermark, waiting for the ones below them. */
  private readonly finishedAbove = new Set<bigint>();

  constructor(
    readonly sessionId: string,
    /**
     * When the session began (Unix ms, this client's clock), sent with every write: a shard
     * that forgot sessions refuses an unknown one that began before what it forgot.
     */
    readonly startedMs: bigint,
    /** The last sequence this session may use (the protocol's sequenceMax). */
    private readonly sequenceMax: bigint = PROTOCOL_LIMITS.sequenceMax,
  ) {}

  /** True when every sequence was used: a new session must take over. */
  get exhausted(): boolean {
    return this.nextSequence > this.sequenceMax;
  }

  begin(): bigint {
    if (this.exhausted) throw new Error(`session ${this.sessionId} used every sequence up to ${this.sequenceMax}`);
    return this.nextSequence++;
  }

  /** Marks a write finished, whatever its outcome: the SDK will not send it again under this session. */
  finish(sequence: bigint): void {
    if (sequence <= this.watermark || sequence >= this.nextSequence || this.finishedAbove.has(sequence)) throw new Error(`sequence ${sequence} is not in flight`);
    this.finishedAbove.add(sequence);
    while (this.finishedAbove.delete(this.watermark + 1n)) this.watermark++;
  }

  get ackedSequence(): bigint {
    return this.watermark;
  }

  /** Writes begun and not yet finished. */
  get inFlight(): number {
    return Number(this.nextSequence - 1n - this.watermark) - this.finishedAbove.size;
  }
}
