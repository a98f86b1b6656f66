import type { WatchRequest } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { Limits } from "../config/config.js";
import { invalidArgument } from "./connect-errors.js";
import { validateKey } from "./request-validation.js";
import { ORDINAL_WHOLE, type Position } from "../state-machine/watch-history.js";
import type { WatchSpec } from "../watch/watcher.js";

/** A WatchRequest, checked: what to match, the shards it covers, and where each one starts (none: from now). */
export interface CheckedWatch {
  spec: WatchSpec;
  shards: number[];
  start: Map<number, Position>;
}

/** The largest log index a position may name: indexes are safe integers. */
const INDEX_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Checks a WatchRequest at the edge: a well-formed key (empty only for a prefix watch of
 * every key), shards and start positions that name real shards the watch covers, once
 * each, with indexes a log can hold. Throws invalid_argument naming the field.
 */
export function checkWatchRequest(req: WatchRequest, ring: Ring, shardCount: number, limits: Limits): CheckedWatch {
  if (!(req.prefix && req.key === "")) validateKey(req.key, limits);
  const covered = req.prefix ? Array.from({ length: shardCount }, (_, i) => i) : [ring.shardFor(req.key)];
  let shards = covered;
  if (req.shards.length > 0) {
    const asked = new Set<number>();
    for (const shard of req.shards) {
      if (!covered.includes(shard)) {
        throw invalidArgument(
          req.prefix
            ? `shards: unknown shard ${shard}: shards are 0 to ${shardCount - 1}`
            : `shards: key ${JSON.stringify(req.key)} is in shard ${covered[0]}, not ${shard}`,
        );
      }
      if (asked.has(shard)) throw invalidArgument(`shards: shard ${shard} is named twice`);
      asked.add(shard);
    }
    shards = covered.filter((s) => asked.has(s));
  }
  const start = new Map<number, Position>();
  for (const position of req.start) {
    if (!shards.includes(position.shard)) throw invalidArgument(`start: shard ${position.shard} is not one the watch covers`);
    if (start.has(position.shard)) throw invalidArgument(`start: shard ${position.shard} is named twice`);
    if (position.index > INDEX_MAX) throw invalidArgument(`start: index ${position.index} of shard ${position.shard} is above ${INDEX_MAX}`);
    start.set(position.shard, { index: Number(position.index), ordinal: position.ordinal });
  }
  return { spec: { key: req.key, prefix: req.prefix, withValues: req.withValues }, shards, start };
}

/** The position of a replica that applied through `appliedIndex`: where a watch "from now" starts. */
export function positionNow(appliedIndex: number): Position {
  return { index: appliedIndex, ordinal: ORDINAL_WHOLE };
}
