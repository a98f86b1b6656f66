import type { ServiceImpl } from "@connectrpc/connect";
import type { CacheService } from "@distcache/proto";
import { getHandler, mGetHandler } from "./cache-reads.js";
import { batchHandler } from "./cache-batch.js";
import { statsHandler } from "./cache-stats.js";
import { deleteHandler, incrHandler, mDeleteHandler, mSetHandler, setHandler } from "./cache-writes.js";
import type { CacheServiceDeps } from "./service-support.js";

export type { CacheServiceDeps } from "./service-support.js";

/**
 * The CacheService handlers: each validates its request, routes it to its shard (served
 * here, or forwarded one hop to the leader), and reads the local replica or proposes
 * through the consensus port. Batch runs single-key calls
 * through the same handlers; Watch is served by watch-call.ts.
 */
export function createCacheService(deps: CacheServiceDeps): Partial<ServiceImpl<typeof CacheService>> {
  const single = { get: getHandler(deps), set: setHandler(deps), delete: deleteHandler(deps), incr: incrHandler(deps) };
  return {
    ...single,
    mGet: mGetHandler(deps),
    mSet: mSetHandler(deps),
    mDelete: mDeleteHandler(deps),
    batch: batchHandler(deps, single),
    stats: statsHandler(deps),
  };
}
