import { PROTOCOL_LIMITS } from "@distcache/proto/limits";

/**
 * Numbers the writes of one client session (invariant 4 of docs/design.md). Every write RPC takes
 * the next sequence and keeps it across its retries, so the cluster can recognise a
 * repeat. Many writes may be in flight. Each shard keeps the results of the session's
 * writes it applied until the client acknowledges them, so the watermark is kept per
 * shard: the highest sequence at or below which every write sent to that shard has
 * finished. A write stuck on one shard holds back that shard's watermark only, and
 * other shards may drop the results they keep.
 *
 * A session is replaced, never reset: when a shard reports it expired (or its sequences
 * run out), the client starts a new WriteSession (new id, sequences from 1, watermarks
 * 0) for later writes, and writes still in flight finish on the session they began on.
 */
export class WriteSession {
  private nextSequence = 1n;
  /** Per shard, the sequences of writes to it not yet finished, in ascending order. */
  private readonly open = new Map<number, bigint[]>();
  private openCount = 0;

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

  /** The sequence of a new write to `shard`. */
  begin(shard: number): bigint {
    if (this.exhausted) throw new Error(`session ${this.sessionId} used every sequence up to ${this.sequenceMax}`);
    const sequence = this.nextSequence++;
    const open = this.open.get(shard);
    if (open) open.push(sequence);
    else this.open.set(shard, [sequence]);
    this.openCount++;
    return sequence;
  }

  /** Marks a write to `shard` finished, whatever its outcome: the SDK will not send it again under this session. */
  finish(shard: number, sequence: bigint): void {
    const open = this.open.get(shard);
    const at = open?.indexOf(sequence) ?? -1;
    if (!open || at < 0) throw new Error(`sequence ${sequence} is not in flight on shard ${shard}`);
    open.splice(at, 1);
    if (open.length === 0) this.open.delete(shard);
    this.openCount--;
  }

  /** What the client acknowledges to `shard`: every write to it at or below this sequence has finished. */
  ackedSequence(shard: number): bigint {
    const lowestOpen = this.open.get(shard)?.[0];
    return lowestOpen === undefined ? this.nextSequence - 1n : lowestOpen - 1n;
  }

  /** Writes begun and not yet finished, on every shard. */
  get inFlight(): number {
    return this.openCount;
  }
}
