import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { SessionExpiredSchema, SessionResultForgottenSchema, SetCondition, type RequestHeader } from "@distcache/proto";
import { DeleteOpSchema, IncrOpSchema, MDeleteOpSchema, MSetOpSchema, SetCondition as WireCondition, SetOpSchema, type SetOp } from "@distcache/proto/raft";
import type { Limits } from "../config/config.js";
import type { CommandOp } from "../consensus/consensus-port.js";
import { forwardHeader } from "../routing/router.js";
import type { CommandResult } from "../state-machine/shard-state-machine.js";
import { invalidArgument } from "./connect-errors.js";
import {
  payloadBytes,
  validateBatch,
  validateCondition,
  validateDistinct,
  validateHeader,
  validateKey,
  validateTtl,
  type Payload,
} from "./request-validation.js";
import { groupByShard, guard, sessionOf, type CacheHandler, type CacheServiceDeps } from "./service-support.js";

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
        `sequence ${sequence} of session "${sessionId}" was already acknowledged on shard ${shard}, ` +
          "and its result is no longer kept: this write was not applied now; do not resend it",
        Code.FailedPrecondition,
        undefined,
        [{ desc: SessionResultForgottenSchema, value: create(SessionResultForgottenSchema, { shard, sessionId, sequence }) }],
      );
    case "too-many":
      return new ConnectError(
        `too many unacknowledged writes in session "${sessionId}" on shard ${shard}: this write was not applied; ` +
          "retry it with the same sequence after earlier writes are acknowledged",
        Code.ResourceExhausted,
      );
    case "expired":
      return new ConnectError(
        `session "${sessionId}" expired on shard ${shard}: this write was not applied; ` +
          "start a new session (a write sent before under the expired one may have been applied then)",
        Code.FailedPrecondition,
        undefined,
        [{ desc: SessionExpiredSchema, value: create(SessionExpiredSchema, { shard, sessionId, startedAfterMs: BigInt(result.startedAfterMs) }) }],
      );
  }
}

/**
 * Proposes op on shard under the request's session and returns its result, which must be
 * of the operation's type: a refusal becomes its error, and a session's stored result of
 * another operation (a different write sent under a used sequence number) the client's error.
 */
async function proposeFor<T extends CommandResult["type"]>(
  deps: CacheServiceDeps,
  shard: number,
  op: CommandOp,
  type: T,
  header: RequestHeader | undefined,
): Promise<Extract<CommandResult, { type: T }>> {
  const result = await deps.consensus.propose(shard, op, sessionOf(header));
  if (result.type === "refused") throw refusalError(result, shard, header?.sessionId ?? "", header?.sequence ?? 0n);
  if (result.type !== type) {
    throw invalidArgument(
      `sequence ${header?.sequence ?? 0n} of session "${header?.sessionId ?? ""}" was already used by another operation (${result.type}); ` +
        "every write takes a new sequence number",
    );
  }
  return result as Extract<CommandResult, { type: T }>;
}

/**
 * A batch write sent with no_forward must not apply on some shards and then refuse
 * the rest: check every shard's leadership before proposing anything.
 */
function requireLeadership(deps: CacheServiceDeps, shards: Iterable<number>, header: RequestHeader | undefined): void {
  if (!header?.noForward) return;
  for (const shard of shards) {
    const leaderId = deps.consensus.hosts(shard) ? deps.consensus.status(shard).leaderId : undefined;
    if (leaderId !== deps.nodeId) throw deps.router.refuse(shard, leaderId || undefined, "not the leader");
  }
}

function setOp(limits: Limits, key: string, payload: Payload, ttlMs: bigint, field: string): SetOp {
  validateKey(key, limits, `${field}key`);
  validateTtl(ttlMs, limits, `${field}ttl_ms`);
  const { value, text } = payloadBytes(payload, limits, `${field}value`);
  return create(SetOpSchema, { key, value, text, ttlMs });
}

export function setHandler(deps: CacheServiceDeps): CacheHandler<"set"> {
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateCondition(req.condition, req.expectedVersion);
      const op = setOp(deps.limits, req.key, req.payload, req.ttlMs, "");
      op.condition = WIRE_CONDITION[req.condition];
      op.expectedVersion = req.expectedVersion;
      const shard = deps.ring.shardFor(req.key);
      const local = async () => {
        const { result } = await proposeFor(deps, shard, { case: "set", value: op }, "set", req.header);
        if (result.ok) return { version: BigInt(result.version) };
        if (result.reason === "exists") throw new ConnectError(`key "${req.key}" already exists (version ${result.currentVersion})`, Code.AlreadyExists);
        throw new ConnectError(`key "${req.key}" is at version ${result.currentVersion}, not the expected ${req.expectedVersion}`, Code.FailedPrecondition);
      };
      return deps.router.run(shard, req.header, ctx, local, (client, options) => client.set({ ...req, header: forwardHeader(req.header) }, options));
    });
}

export function mSetHandler(deps: CacheServiceDeps): CacheHandler<"mSet"> {
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateBatch(req.items.length, deps.limits, "items");
      const ops = req.items.map((item, i) => setOp(deps.limits, item.key, item.payload, item.ttlMs, `items[${i}].`));
      validateDistinct(
        ops.map((op) => op.key),
        "items",
      );
      const versions = new Array<bigint>(ops.length).fill(0n);
      const byShard = groupByShard(ops, (op) => op.key, deps.ring);
      requireLeadership(deps, byShard.keys(), req.header);
      const writeOne = async ([shard, indexes]: [number, number[]]): Promise<void> => {
        const items = indexes.map((i) => ops[i]!);
        const got = await deps.router.run(
          shard,
          req.header,
          ctx,
          async () => (await proposeFor(deps, shard, { case: "mset", value: create(MSetOpSchema, { items }) }, "mset", req.header)).versions.map(BigInt),
          async (client, options) => (await client.mSet({ items: indexes.map((i) => req.items[i]!), header: forwardHeader(req.header) }, options)).versions,
        );
        indexes.forEach((i, j) => (versions[i] = got[j] ?? 0n));
      };
      await Promise.all([...byShard].map(writeOne));
      return { versions };
    });
}

export function deleteHandler(deps: CacheServiceDeps): CacheHandler<"delete"> {
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateKey(req.key, deps.limits);
      const shard = deps.ring.shardFor(req.key);
      return deps.router.run(
        shard,
        req.header,
        ctx,
        async () => ({
          deleted: (await proposeFor(deps, shard, { case: "delete", value: create(DeleteOpSchema, { key: req.key }) }, "delete", req.header)).deleted,
        }),
        (client, options) => client.delete({ ...req, header: forwardHeader(req.header) }, options),
      );
    });
}

export function mDeleteHandler(deps: CacheServiceDeps): CacheHandler<"mDelete"> {
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateBatch(req.keys.length, deps.limits, "keys");
      req.keys.forEach((key, i) => validateKey(key, deps.limits, `keys[${i}]`));
      validateDistinct(req.keys, "keys");
      const byShard = groupByShard(req.keys, (k) => k, deps.ring);
      requireLeadership(deps, byShard.keys(), req.header);
      const deleteOne = ([shard, indexes]: [number, number[]]): Promise<number> => {
        const keys = indexes.map((i) => req.keys[i]!);
        return deps.router.run(
          shard,
          req.header,
          ctx,
          async () => (await proposeFor(deps, shard, { case: "mdelete", value: create(MDeleteOpSchema, { keys }) }, "mdelete", req.header)).deleted,
          async (client, options) => (await client.mDelete({ keys, header: forwardHeader(req.header) }, options)).deleted,
        );
      };
      const counts = await Promise.all([...byShard].map(deleteOne));
      return { deleted: counts.reduce((a, b) => a + b, 0) };
    });
}

export function incrHandler(deps: CacheServiceDeps): CacheHandler<"incr"> {
  return (req, ctx) =>
    guard(async () => {
      validateHeader(req.header);
      validateKey(req.key, deps.limits);
      const shard = deps.ring.shardFor(req.key);
      const local = async () => {
        const op = create(IncrOpSchema, { key: req.key, delta: req.delta });
        const { result } = await proposeFor(deps, shard, { case: "incr", value: op }, "incr", req.header);
        if (result.ok) return { value: result.value, version: BigInt(result.version) };
        if (result.reason === "overflow")
          throw new ConnectError(`incrementing "${req.key}" by ${req.delta} overflows a signed 64-bit integer`, Code.OutOfRange);
        throw new ConnectError(`value of "${req.key}" is not a signed 64-bit integer`, Code.FailedPrecondition);
      };
      return deps.router.run(shard, req.header, ctx, local, (client, options) => client.incr({ ...req, header: forwardHeader(req.header) }, options));
    });
}
