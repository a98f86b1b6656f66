import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Consistency, LimitExceededSchema, type GetResponse, type ShardPosition } from "@distcache/proto";
import { ORDINAL_WHOLE } from "../state-machine/watch-history.js";
import type { Entry } from "@distcache/store";
import { forwardHeader } from "../routing/router.js";
import { validateBatch, validateConsistency, validateHeader, validateKey } from "./request-validation.js";
import { groupByShard, guard, type CacheHandler, type CacheServiceDeps } from "./service-support.js";

const decoder = new TextDecoder();

type GetShape = Pick<GetResponse, "found" | "payload" | "version" | "ttlRemainingMs"> & { position?: ShardPositionShape };
type ShardPositionShape = Pick<ShardPosition, "shard" | "index" | "ordinal">;

/**
 * What one read answer may still carry (--response-bytes-max), counted in key and value
 * bytes (UTF-16 units for text, a close enough measure). A read over it fails
 * resource_exhausted before its values are copied: an MGet of 1,000 keys naming one
 * 1 MiB value would otherwise build a 1 GB answer.
 */
export class AnswerBudget {
  private used = 0;

  constructor(private readonly max: number) {}

  charge(bytes: number): void {
    this.used += bytes;
    if (this.used > this.max) {
      throw new ConnectError(
        `the answer would hold more than ${this.max} bytes of keys and values (response_bytes_max); ask for fewer keys at once`,
        Code.ResourceExhausted,
        undefined,
        [{ desc: LimitExceededSchema, value: create(LimitExceededSchema, { limit: "response_bytes_max", max: BigInt(this.max), actual: BigInt(this.used) }) }],
      );
    }
  }
}

/**
 * Where a context carries a budget shared by several Gets (the calls of one Batch); a
 * Get alone has its own. A plain property: reading it costs a Get nothing, where the
 * context's values would be built for it.
 */
export const ANSWER_BUDGET = Symbol("answer budget");
export type BudgetedContext = HandlerContext & { [ANSWER_BUDGET]?: AnswerBudget };

const NOT_FOUND: GetShape = { found: false, payload: { case: undefined }, version: 0n, ttlRemainingMs: 0n };

function toGetResponse(entry: Entry | undefined, nowMs: number, position: ShardPositionShape): GetShape {
  if (!entry) return { ...NOT_FOUND, position };
  return {
    position,
    found: true,
    payload: entry.text ? { case: "text", value: decoder.decode(entry.value) } : { case: "value", value: entry.value },
    version: BigInt(entry.version),
    ttlRemainingMs: entry.expireAtMs > 0 ? BigInt(Math.max(0, entry.expireAtMs - nowMs)) : 0n,
  };
}

/** Reads keys of one shard from the local replica, after a read barrier unless the read is eventual. */
async function readShard(deps: CacheServiceDeps, shard: number, keys: readonly string[], consistency: Consistency, budget: AnswerBudget): Promise<GetShape[]> {
  const { consensus } = deps;
  if (consistency !== Consistency.EVENTUAL) await consensus.readBarrier(shard);
  // A strong read judges expiry at the replica's last applied stamp, so it is ordered
  // with the log; an eventual one at this node's cluster time (invariant 9 of docs/design.md).
  const replica = consensus.replica(shard);
  const nowMs = consistency === Consistency.EVENTUAL ? consensus.clusterTimeMs(shard) : (deps.localExpiryClockMs?.() ?? replica.lastStampMs);
  const store = replica.store;
  // Read in the same turn as the keys: the state at this applied index is what the answer shows.
  const position = { shard, index: BigInt(replica.appliedIndex), ordinal: ORDINAL_WHOLE };
  return keys.map((key) => {
    const entry = store.get(key, nowMs);
    if (entry) {
      // Charged before the value is decoded into the answer.
      budget.charge(key.length + entry.value.length);
      deps.accessHints.record(shard, key);
    }
    return toGetResponse(entry, nowMs, position);
  });
}

export function getHandler(deps: CacheServiceDeps): CacheHandler<"get"> {
  const { limits, ring, router } = deps;
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateConsistency(req.consistency);
      validateKey(req.key, limits);
      let forwarded = false;
      const shard = ring.shardFor(req.key);
      const shared = (ctx as BudgetedContext)[ANSWER_BUDGET];
      const budget = shared ?? new AnswerBudget(limits.responseBytesMax);
      const got = await router.run(
        shard,
        req.header,
        ctx,
        async () => (await readShard(deps, shard, [req.key], req.consistency, budget))[0]!,
        async (client, options) => {
          const answer = await client.get({ ...req, header: forwardHeader(req.header) }, options);
          forwarded = true;
          return answer;
        },
      );
      // A forwarded answer counts against a shared budget too (a Get alone is bounded by the value limit).
      if (forwarded && shared && got.payload.case !== undefined) shared.charge(req.key.length + got.payload.value.length);
      return got;
    });
}

export function mGetHandler(deps: CacheServiceDeps): CacheHandler<"mGet"> {
  const { limits, ring, router } = deps;
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateConsistency(req.consistency);
      validateBatch(req.keys.length, limits, "keys");
      req.keys.forEach((key, i) => validateKey(key, limits, `keys[${i}]`));
      const results: GetShape[] = new Array<GetShape>(req.keys.length);
      // One budget for the whole answer, shards read here and answers forwarded alike.
      const budget = new AnswerBudget(limits.responseBytesMax);
      const readOne = async ([shard, indexes]: [number, number[]]): Promise<void> => {
        const keys = indexes.map((i) => req.keys[i]!);
        let forwarded = false;
        const got = await router.run(
          shard,
          req.header,
          ctx,
          () => readShard(deps, shard, keys, req.consistency, budget),
          async (client, options) => {
            forwarded = true;
            return (await client.mGet({ keys, consistency: req.consistency, header: forwardHeader(req.header) }, options)).results;
          },
        );
        // Charged here, not inside the forwarding call: a refusal there would read as a failed forward.
        if (forwarded) got.forEach((r, j) => budget.charge(r.payload.case === undefined ? 0 : keys[j]!.length + r.payload.value.length));
        indexes.forEach((i, j) => (results[i] = got[j]!));
      };
      await Promise.all([...groupByShard(req.keys, (k) => k, ring)].map(readOne));
      return { results };
    });
}
