/**
 * One stored value. The store never mutates an Entry (a write creates a new one), so
 * snapshots can capture entries by reference. Treat it as immutable, and the value's
 * bytes too: the store takes ownership of the array passed to set().
 */
export interface Entry {
  readonly value: Uint8Array;
  /** The value was written as text (UTF-8) and is read back as text. */
  readonly text: boolean;
  /** The shard revision of the entry's last write; never reused within a shard. */
  readonly version: number;
  /** Absolute Unix ms at which the entry stops existing; 0 = no expiry. */
  readonly expireAtMs: number;
}

/** True when `entry` no longer exists at `nowMs`: expiry is inclusive of its instant. */
export function isExpired(entry: Entry, nowMs: number): boolean {
  return entry.expireAtMs !== 0 && entry.expireAtMs <= nowMs;
}
