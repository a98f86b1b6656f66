import type { ServiceImpl } from "@connectrpc/connect";
import type { CacheService } from "@distcache/proto";
import { getHandler, mGetHandler } from "./cache-reads.js";
import { statsHandler } from "./cache-stats.js";
import { deleteHandler, incrHandler, mDeleteHandler, mSetHandler, setHandler } from "./cache-writes.js";
import type { CacheServiceDeps } from "./service-support.js";

export type { CacheServiceDeps } from "./service-support.js";

/**
 * The CacheService handlers: each validates its request, routes it to its shard (served
 * here, or forwarded one hop to the leader), and reads the local replica or proposes
 * through the consensus port. Watch is served by watch-call.ts.
 */
export function createCacheService(deps: CacheServiceDeps): Partial<ServiceImpl<typeof CacheService>> {
  return {
    get: getHandler(deps),
    mGet: mGetHandler(deps),
    set: setHandler(deps),
    mSet: mSetHandler(deps),
    delete: deleteHandler(deps),
    mDelete: mDeleteHandler(deps),
    incr: incrHandler(deps),
    stats: statsHandler(deps),
  };
}
