import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { CacheService } from "@distcache/proto";
import { Consistency, LimitExceededSchema, SessionExpiredSchema, SessionResultForgottenSchema, SetCondition, type GetResponse, type RequestHeader } from "@distcache/proto";
import { create } from "@bufbuild/protobuf";
import { DeleteOpSchema, IncrOpSchema, MDeleteOpSchema, MSetOpSchema, SetCondition as WireCondition, SetOpSchema, type SetOp } from "@distcache/proto/raft";
import type { Ring } from "@distcache/ring";
import type { Entry, StoreStats } from "@distcache/store";
import type { AccessHints } from "../background/access-hints.js";
import type { Limits } from "../config/config.js";
import type { ConsensusPort, SessionHeader } from "../consensus/consensus-port.js";
import { internalError, invalidArgument } from "./connect-errors.js";
import {
  payloadBytes,
  validateBatch,
  validateCondition,
  validateConsistency,
  validateDistinct,
  validateHeader,
  validateKey,
  validateTtl,
  type Payload,
} from "./request-validation.js";
import type { CommandResult } from "../state-machine/shard-state-machine.js";
import { forwardHeader, type Router } from "../routing/router.js";

export interface CacheServiceDeps {
  nodeId: string;
  ring: Ring;
  consensus: ConsensusPort;
  limits: Limits;
  accessHints: AccessHints;
  router: Router;
}

const decoder = new TextDecoder();

type GetShape = Pick<GetResponse, "found" | "payload" | "version" | "ttlRemainingMs">;

/**
 * What one read answer may still carry (--response-bytes-max), counted in key and value
 * bytes (UTF-16 units for text, a close enough measure). A read over it fails
 * resource_exhausted before its values are copied: an MGet of 1,000 keys naming one
 * 1 MiB value would otherwise build a 1 GB answer.
 */
class AnswerBudget {
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

const NOT_FOUND: GetShape = { found: false, payload: { case: undefined }, version: 0n, ttlRemainingMs: 0n };

function toGetResponse(entry: Entry | undefined, nowMs: number): GetShape {
  if (!entry) return NOT_FOUND;
  return {
    found: true,
    payload: entry.text ? { case: "text", value: decoder.decode(entry.value) } : { case: "value", value: entry.value },
    version: BigInt(entry.version),
    ttlRemainingMs: entry.expireAtMs > 0 ? BigInt(Math.max(0, entry.expireAtMs - nowMs)) : 0n,
  };
}

const STAT_NAMES = ["hits", "misses", "evictions", "expirations", "keys", "bytes"] as const;

function statsMessage(stats: StoreStats): Record<(typeof STAT_NAMES)[number], bigint> {
  return { hits: BigInt(stats.hits), misses: BigInt(stats.misses), evictions: BigInt(stats.evictions), expirations: BigInt(stats.expirations), keys: BigInt(stats.keys), bytes: BigInt(stats.bytes) };
}

function sessionOf(header: RequestHeader | undefined): SessionHeader | undefined {
  if (!header || header.sessionId === "") return undefined;
  return { sessionId: header.sessionId, sequence: header.sequence, ackedSequence: header.ackedSequence, sessionStartedMs: header.sessionStartedMs };
}

const WIRE_CONDITION: Record<SetCondition, WireCondition> = {
  [SetCondition.UNSPECIFIED]: WireCondition.UNSPECIFIED,
  [SetCondition.IF_ABSENT]: WireCondition.IF_ABSENT,
  [SetCondition.IF_VERSION]: WireCondition.IF_VERSION,
};

/** The error that answers a refused command: it changed nothing. */
function refusalError(result: Extract<CommandResult, { type: "refused" }>, shard: number, sessionId: string, sequence = 0n): ConnectError {
  switch (result.reason) {
    case "invalid":
      return invalidArgument(result.message);
    case "forgotten":
      return new ConnectError(
        `sequence ${sequence} of session "${sessionId}" was already acknowledged on shard ${shard}, and its result is no longer kept: this write was not applied now; do not resend it`,
        Code.FailedPrecondition,
        undefined,
        [{ desc: SessionResultForgottenSchema, value: create(SessionResultForgottenSchema, { shard, sessionId, sequence }) }],
      );
    case "too-many":
      return new ConnectError(
        `too many unacknowledged writes in session "${sessionId}" on shard ${shard}: this write was not applied; retry it with the same sequence after earlier writes are acknowledged`,
        Code.ResourceExhausted,
      );
    case "expired":
      return new ConnectError(
        `session "${sessionId}" expired on shard ${shard}: this write was not applied; start a new session (a write sent before under the expired one may have been applied then)`,
        Code.FailedPrecondition,
        undefined,
        [{ desc: SessionExpiredSchema, value: create(SessionExpiredSchema, { shard, sessionId, startedAfterMs: BigInt(result.startedAfterMs) }) }],
      );
  }
}

function expect<T extends CommandResult["type"]>(result: CommandResult, type: T, shard: number, header: RequestHeader | undefined): Extract<CommandResult, { type: T }> {
  if (result.type === "refused") throw refusalError(result, shard, header?.sessionId ?? "", header?.sequence ?? 0n);
  // A session's stored result answers a retry of the same write; a different operation
  // sent under the same sequence number gets that result back, which is the client's error.
  if (result.type !== type) {
    throw invalidArgument(`sequence ${header?.sequence ?? 0n} of session "${header?.sessionId ?? ""}" was already used by another operation (${result.type}); every write takes a new sequence number`);
  }
  return result as Extract<CommandResult, { type: T }>;
}

/** Groups indexes of items by shard, keeping request order within each shard. */
function groupByShard<T>(items: readonly T[], keyOf: (item: T) => string, ring: Ring): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const shard = ring.shardFor(keyOf(item));
    const list = groups.get(shard);
    if (list) list.push(i);
    else groups.set(shard, [i]);
  });
  return groups;
}

/** The CacheService handlers: validation, routing to a shard, and the consensus port. */
export function createCacheService(deps: CacheServiceDeps): Partial<ServiceImpl<typeof CacheService>> {
  const { ring, consensus, limits, router } = deps;
  const route = router.run;

  /**
   * A batch write sent with no_forward must not apply on some shards and then refuse
   * the rest: check every shard's leadership before proposing anything.
   */
  const requireLeadership = (shards: Iterable<number>, header: RequestHeader | undefined): void => {
    if (!header?.noForward) return;
    for (const shard of shards) {
      const leaderId = consensus.hosts(shard) ? consensus.status(shard).leaderId : undefined;
      if (leaderId !== deps.nodeId) throw router.refuse(shard, leaderId || undefined, "not the leader");
    }
  };

  const readLocal = (shard: number, key: string, nowMs: number, budget: AnswerBudget): GetShape => {
    const replica = consensus.replica(shard);
    const entry = replica.store.get(key, nowMs);
    // Charged before the value is decoded into the answer.
    if (entry) budget.charge(key.length + entry.value.length);
    if (entry) deps.accessHints.record(shard, key);
    return toGetResponse(entry, nowMs);
  };

  const readShard = async (shard: number, keys: readonly string[], consistency: Consistency, budget: AnswerBudget): Promise<GetShape[]> => {
    if (consistency !== Consistency.EVENTUAL) await consensus.readBarrier(shard);
    // A strong read judges expiry at the replica's last applied stamp, so it is ordered
    // with the log; an eventual one at this node's cluster time (invariant 9 of docs/design.md).
    const nowMs = consistency === Consistency.EVENTUAL ? consensus.clusterTimeMs(shard) : consensus.replica(shard).lastStampMs;
    return keys.map((key) => readLocal(shard, key, nowMs, budget));
  };

  const setOp = (key: string, payload: Payload, ttlMs: bigint, field: string): SetOp => {
    validateKey(key, limits, `${field}key`);
    validateTtl(ttlMs, limits, `${field}ttl_ms`);
    const { value, text } = payloadBytes(payload, limits, `${field}value`);
    return create(SetOpSchema, { key, value, text, ttlMs });
  };

  const guard = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw internalError(err);
    }
  };

  return {
    get: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateConsistency(req.consistency);
        validateKey(req.key, limits);
        const shard = ring.shardFor(req.key);
        return route(
          shard,
          req.header,
          ctx,
          async () => (await readShard(shard, [req.key], req.consistency, new AnswerBudget(limits.responseBytesMax)))[0]!,
          (client, options) => client.get({ ...req, header: forwardHeader(req.header) }, options),
        );
      }),

    mGet: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateConsistency(req.consistency);
        validateBatch(req.keys.length, limits, "keys");
        req.keys.forEach((key, i) => validateKey(key, limits, `keys[${i}]`));
        const results: GetShape[] = new Array<GetShape>(req.keys.length);
        // One budget for the whole answer, shards read here and answers forwarded alike.
        const budget = new AnswerBudget(limits.responseBytesMax);
        await Promise.all(
          [...groupByShard(req.keys, (k) => k, ring)].map(async ([shard, indexes]) => {
            const keys = indexes.map((i) => req.keys[i]!);
            let forwarded = false;
            const got = await route(
              shard,
              req.header,
              ctx,
              () => readShard(shard, keys, req.consistency, budget),
              async (client, options) => {
                forwarded = true;
                return (await client.mGet({ keys, consistency: req.consistency, header: forwardHeader(req.header) }, options)).results;
              },
            );
            // Charged here, not inside the forwarding call: a refusal there would read as a failed forward.
            if (forwarded) got.forEach((r, j) => budget.charge(r.payload.case === undefined ? 0 : keys[j]!.length + r.payload.value.length));
            indexes.forEach((i, j) => (results[i] = got[j]!));
          }),
        );
        return { results };
      }),

    set: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateCondition(req.condition, req.expectedVersion);
        const op = setOp(req.key, req.payload, req.ttlMs, "");
        op.condition = WIRE_CONDITION[req.condition];
        op.expectedVersion = req.expectedVersion;
        const shard = ring.shardFor(req.key);
        return route(
          shard,
          req.header,
          ctx,
          async () => {
            const { result } = expect(await consensus.propose(shard, { case: "set", value: op }, sessionOf(req.header)), "set", shard, req.header);
            if (result.ok) return { version: BigInt(result.version) };
            if (result.reason === "exists") throw new ConnectError(`key "${req.key}" already exists (version ${result.currentVersion})`, Code.AlreadyExists);
            throw new ConnectError(`key "${req.key}" is at version ${result.currentVersion}, not the expected ${req.expectedVersion}`, Code.FailedPrecondition);
          },
          (client, options) => client.set({ ...req, header: forwardHeader(req.header) }, options),
        );
      }),

    mSet: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateBatch(req.items.length, limits, "items");
        const ops = req.items.map((item, i) => setOp(item.key, item.payload, item.ttlMs, `items[${i}].`));
        validateDistinct(ops.map((op) => op.key), "items");
        const versions = new Array<bigint>(ops.length).fill(0n);
        const groups = groupByShard(ops, (op) => op.key, ring);
        requireLeadership(groups.keys(), req.header);
        await Promise.all(
          [...groups].map(async ([shard, indexes]) => {
            const items = indexes.map((i) => ops[i]!);
            const got = await route(
              shard,
              req.header,
              ctx,
              async () => expect(await consensus.propose(shard, { case: "mset", value: create(MSetOpSchema, { items }) }, sessionOf(req.header)), "mset", shard, req.header).versions.map(BigInt),
              async (client, options) => (await client.mSet({ items: indexes.map((i) => req.items[i]!), header: forwardHeader(req.header) }, options)).versions,
            );
            indexes.forEach((i, j) => (versions[i] = got[j] ?? 0n));
          }),
        );
        return { versions };
      }),

    delete: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateKey(req.key, limits);
        const shard = ring.shardFor(req.key);
        return route(
          shard,
          req.header,
          ctx,
          async () => ({
            deleted: expect(await consensus.propose(shard, { case: "delete", value: create(DeleteOpSchema, { key: req.key }) }, sessionOf(req.header)), "delete", shard, req.header).deleted,
          }),
          (client, options) => client.delete({ ...req, header: forwardHeader(req.header) }, options),
        );
      }),

    mDelete: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateBatch(req.keys.length, limits, "keys");
        req.keys.forEach((key, i) => validateKey(key, limits, `keys[${i}]`));
        validateDistinct(req.keys, "keys");
        const groups = groupByShard(req.keys, (k) => k, ring);
        requireLeadership(groups.keys(), req.header);
        const counts = await Promise.all(
          [...groups].map(([shard, indexes]) => {
            const keys = indexes.map((i) => req.keys[i]!);
            return route(
              shard,
              req.header,
              ctx,
              async () => expect(await consensus.propose(shard, { case: "mdelete", value: create(MDeleteOpSchema, { keys }) }, sessionOf(req.header)), "mdelete", shard, req.header).deleted,
              async (client, options) => (await client.mDelete({ keys, header: forwardHeader(req.header) }, options)).deleted,
            );
          }),
        );
        return { deleted: counts.reduce((a, b) => a + b, 0) };
      }),

    incr: (req, ctx) =>
      guard(async () => {
        validateHeader(req.header);
        validateKey(req.key, limits);
        const shard = ring.shardFor(req.key);
        return route(
          shard,
          req.header,
          ctx,
          async () => {
            const op = create(IncrOpSchema, { key: req.key, delta: req.delta });
            const { result } = expect(await consensus.propose(shard, { case: "incr", value: op }, sessionOf(req.header)), "incr", shard, req.header);
            if (result.ok) return { value: result.value, version: BigInt(result.version) };
            if (result.reason === "overflow") throw new ConnectError(`incrementing "${req.key}" by ${req.delta} overflows a signed 64-bit integer`, Code.OutOfRange);
            throw new ConnectError(`value of "${req.key}" is not a signed 64-bit integer`, Code.FailedPrecondition);
          },
          (client, options) => client.incr({ ...req, header: forwardHeader(req.header) }, options),
        );
      }),

    stats: (req) =>
      guard(async () => {
        const total: StoreStats = { hits: 0, misses: 0, evictions: 0, expirations: 0, keys: 0, bytes: 0 };
        const shards = [];
        for (let shard = 0; shard < consensus.shardCount; shard++) {
          if (!consensus.hosts(shard)) continue;
          // Hashing a shard is O(keys): the consensus layer does it in short steps, one
          // digest at a time per node (a concurrent Stats with digests waits its turn).
          const digested = req.includeDigests ? await consensus.digest(shard) : undefined;
          const store = consensus.replica(shard).store.stats();
          for (const k of STAT_NAMES) total[k] += store[k];
          const status = consensus.status(shard);
          shards.push({
            shard,
            store: statsMessage(store),
            // With a digest, the index it was taken at (the replica may have applied more since).
            appliedIndex: BigInt(digested?.appliedIndex ?? status.appliedIndex),
            term: BigInt(status.term),
            leaderId: status.leaderId,
            // The replica's replicated settings, not this node's flags.
            evictionPolicy: consensus.replica(shard).store.options.policy,
            entriesMax: BigInt(consensus.replica(shard).store.options.entriesMax),
            bytesMax: BigInt(consensus.replica(shard).store.options.bytesMax),
            digest: digested?.digest ?? "",
          });
        }
        return { nodeId: deps.nodeId, total: statsMessage(total), shards };
      }),
  };
}
