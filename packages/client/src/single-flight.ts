/** Counters of a SingleFlight since it was created. */
export interface SingleFlightStats {
  /** Calls to run(). */
  calls: number;
  /** Calls that joined a run already in flight instead of starting one. */
  coalesced: number;
}

/**
 * Runs at most one call per key at a time: a call for a key whose work is in flight
 * waits for that work and shares its result or its error, instead of repeating it (so a
 * burst of misses on one hot key costs one load, not one per caller). Nothing is
 * remembered once the work settles: the next call runs it again.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();
  readonly stats: SingleFlightStats = { calls: 0, coalesced: 0 };

  run(key: string, work: () => Promise<T>): Promise<T> {
    this.stats.calls++;
    const running = this.inFlight.get(key);
    if (running) {
      this.stats.coalesced++;
      return running;
    }
    const started = (async () => {
      try {
        return await work();
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, started);
    return started;
  }

  /** Keys whose work is in flight. */
  get size(): number {
    return this.inFlight.size;
  }
}
