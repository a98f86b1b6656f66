/**
 * Collects keys that reads found, per shard, so the node can propose them as access
 * hints. Reads never change eviction state directly; recency and frequency move only
 * when the hints are applied from the log, identically on every replica (invariant 3 of docs/design.md).
 */
export class AccessHints {
  private readonly samples = new Map<number, string[]>();

  constructor(private readonly keysMaxPerShard: number) {
    if (!(keysMaxPerShard >= 1)) throw new RangeError(`access hint keys max must be >= 1, got ${keysMaxPerShard}`);
  }

  /** Records a read of key on shard; samples past the cap are dropped (hints are best effort). */
  record(shard: number, key: string): void {
    let list = this.samples.get(shard);
    if (!list) {
      list = [];
      this.samples.set(shard, list);
    }
    if (list.length < this.keysMaxPerShard) list.push(key);
  }

  /** Takes and clears every shard's samples. */
  drain(): Map<number, string[]> {
    const out = new Map(this.samples);
    this.samples.clear();
    return out;
  }
}
