import type { LogIndex, Term } from "./types.js";

/**
 * - "command": opaque bytes for the replicated state machine.
 * - "noop": appended by each new leader at the start of its term (Raft paper §5.4.2,
 *   thesis §6.4): committing it commits everything before it and lets ReadIndex start.
 * - "config": a membership change (`ConfChange`, encoded by `encodeConfChange`).
 *   It takes effect on each server as soon as it is in its log (thesis §4.1);
 *   the state machine applies it as a no-op.
 */
export type EntryKind = "command" | "noop" | "config";

export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** Fixed cost charged per entry on top of its payload, so empty entries still count against size limits. */
export const LOG_ENTRY_OVERHEAD_BYTES = 16;

export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + LOG_ENTRY_OVERHEAD_BYTES;
}

/** Payload bytes only: what the uncommitted-size limit counts. */
export function payloadBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entry.data.byteLength;
  return total;
}

/**
 * The longest prefix of `entries` whose total size stays within `bytesMax`, but
 * always at least one entry so progress is possible whatever the limit.
 */
export function limitSize(entries: readonly Entry[], bytesMax: number): readonly Entry[] {
  if (entries.length <= 1) return entries;
  let size = entrySizeBytes(entries[0]!);
  let count = 1;
  while (count < entries.length) {
    size += entrySizeBytes(entries[count]!);
    if (size > bytesMax) break;
    count += 1;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}
