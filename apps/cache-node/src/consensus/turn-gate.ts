/**
 * Hands out turns of the event loop to background work (snapshot capture, encoding,
 * decoding, streaming), one step per turn for the whole node. Each step is short, but
 * steps of a dozen concurrent transfers queued for the same turn would add up to a long
 * pause; through the gate they take turns instead, in arrival order, and requests and
 * Raft traffic are served between any two of them.
 */
export class TurnGate {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;
  /** Steps granted so far. */
  granted = 0;

  /**
   * Resolves at a later turn of the event loop, when no other background step takes it.
   * A `first` step goes before the others waiting (a capture that holds a shard's
   * writes back should not queue behind transfers).
   */
  turn(first = false): Promise<void> {
    return new Promise((resolve) => {
      if (first) this.waiting.unshift(resolve);
      else this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const next = this.waiting.shift();
      this.granted++;
      // The step runs as a continuation right after this callback, within this turn; the
      // next waiter is scheduled for a later turn.
      next?.();
      if (this.waiting.length > 0) this.schedule();
    });
  }
}
