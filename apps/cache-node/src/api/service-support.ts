import type { Code, ServiceImpl } from "@connectrpc/connect";
import type { CacheService, RequestHeader } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { AccessHints } from "../background/access-hints.js";
import type { Limits } from "../config/config.js";
import type { ConsensusPort, SessionHeader } from "../consensus/consensus-port.js";
import type { Router } from "../routing/router.js";
import { internalError } from "./connect-errors.js";

export interface CacheServiceDeps {
  nodeId: string;
  ring: Ring;
  consensus: ConsensusPort;
  limits: Limits;
  accessHints: AccessHints;
  router: Router;
  /** Hears of each finished call of a Batch: its method, and its code (undefined for success). */
  onBatchCall?: (method: string, code: Code | undefined) => void;
  /**
   * Planted bug local-clock-expiry (test-only): the wall clock a STRONG read then judges
   * expiry by. Undefined on every production node.
   */
  localExpiryClockMs?: () => number;
}

/** The type of one CacheService handler. */
export type CacheHandler<M extends keyof ServiceImpl<typeof CacheService>> = ServiceImpl<typeof CacheService>[M];

/** Runs a handler's body, answering any failure that is no Connect error as internal, without leaking internals. */
export async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw internalError(err);
  }
}

/** Groups indexes of items by shard, keeping request order within each shard. */
export function groupByShard<T>(items: readonly T[], keyOf: (item: T) => string, ring: Ring): Map<number, number[]> {
  const byShard = new Map<number, number[]>();
  items.forEach((item, i) => {
    const shard = ring.shardFor(keyOf(item));
    const list = byShard.get(shard);
    if (list) list.push(i);
    else byShard.set(shard, [i]);
  });
  return byShard;
}

/** The session a write is proposed under, or none for a header without a session id. */
export function sessionOf(header: RequestHeader | undefined): SessionHeader | undefined {
  if (!header || header.sessionId === "") return undefined;
  return { sessionId: header.sessionId, sequence: header.sequence, ackedSequence: header.ackedSequence, sessionStartedMs: header.sessionStartedMs };
}
