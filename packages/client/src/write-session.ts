/**
 * Numbers the writes of one client session (DESIGN invariant 4). Every write RPC takes
 * the next sequence and keeps it across its retries, so the cluster can recognise a
 * repeat. Many writes may be in flight; the acknowledged watermark is the highest
 * sequence at or below which every write has finished, so the cluster may drop the
 * responses it keeps for them.
 */
export class WriteSession {
  private nextSequence = 1n;
  private watermark = 0n;
  /** Finished sequences above the watermark, waiting for the ones below them. */
  private readonly finishedAbove = new Set<bigint>();

  constructor(readonly sessionId: string) {}

  begin(): bigint {
    return this.nextSequence++;
  }

  /** Marks a write finished, whatever its outcome: the SDK will not send it again. */
  finish(sequence: bigint): void {
    if (sequence <= this.watermark || sequence >= this.nextSequence) throw new Error(`sequence ${sequence} is not in flight`);
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
