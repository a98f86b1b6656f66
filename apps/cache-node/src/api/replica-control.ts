import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ConfChange } from "@distcache/raft";
import { asNodeId } from "@distcache/raft";
import type { ReplicaControlService } from "@distcache/proto/raft";
import { GroupStatusSchema, MembershipChangeKind, type JoinRequest, type JoinResponse } from "@distcache/proto/raft";
import type { GroupStatus } from "../consensus/multi-raft.js";
import { PEER_TOKEN_HEADER, tokenMatches } from "../peer/control-token.js";
import { allGroupIds, type LocalGroups } from "../placement/node-groups.js";
import { validateNodeId } from "./request-validation.js";
import { invalidArgument } from "./connect-errors.js";

/** The header naming the error class a control call failed with, so the caller can tell retryable failures (replica-move.ts). */
export const ERROR_NAME_HEADER = "distcache-error-name";
/** Set to "1" when the failure is a change the group refuses as such (never worth a retry). */
export const ERROR_INVALID_HEADER = "distcache-error-invalid";

export interface ReplicaControlDeps {
  /** The tokens callers must present: for calls to this node, and for Join (controlToken of the peer secret); empty without one. */
  tokens: { node: string; join: string };
  /** This node's Raft groups, which the calls act on. */
  groups: LocalGroups;
  /** Longest a transfer waits for the new leader when the caller set no deadline. */
  transferTimeoutMs: number;
  /** Adds the calling node to the cluster (membership-calls.ts), answering what it needs to start. */
  join: (req: JoinRequest, ctx: HandlerContext) => Promise<JoinResponse>;
}

const KINDS: Record<number, ConfChange["kind"] | undefined> = {
  [MembershipChangeKind.ADD_LEARNER]: "addLearner",
  [MembershipChangeKind.PROMOTE_LEARNER]: "promoteLearner",
  [MembershipChangeKind.REMOVE_NODE]: "removeNode",
};

/**
 * ReplicaControlService: how the placement driver on the meta group's leader acts on
 * other nodes' replicas, and how a new node joins. Every call must carry the peer token;
 * a failure keeps its class name in a header, so the caller retries exactly what a local
 * caller would.
 */
export function createReplicaControlService(deps: ReplicaControlDeps): ServiceImpl<typeof ReplicaControlService> {
  const { groups } = deps;
  const guarded =
    <Req, Res>(call: (req: Req, ctx: HandlerContext) => Promise<Res>) =>
    async (req: Req, ctx: HandlerContext): Promise<Res> => {
      authenticate(ctx.method.name === "Join" ? deps.tokens.join : deps.tokens.node, ctx);
      try {
        return await call(req, ctx);
      } catch (err) {
        throw controlFailure(err);
      }
    };
  const group = (id: number): number => {
    if (id > groups.shardCount) throw invalidArgument(`no group ${id}: groups are 0 to ${groups.shardCount} (the meta group)`);
    return id;
  };
  return {
    groupStatus: guarded(async (req) => {
      if (req.groups.length > groups.shardCount + 1) throw invalidArgument(`at most ${groups.shardCount + 1} groups`);
      const ids = req.groups.length > 0 ? req.groups.map(group) : allGroupIds(groups.shardCount);
      return { groups: ids.flatMap((id) => statusMessage(id, groups.groupStatus(id))) };
    }),
    changeMembership: guarded(async (req) => {
      const kind = KINDS[req.kind];
      if (!kind) throw invalidArgument(`kind ${req.kind} is not a membership change (ADD_LEARNER, PROMOTE_LEARNER or REMOVE_NODE)`);
      validateNodeId(req.nodeId, "node_id");
      await groups.changeMembership(group(req.group), { kind, node: asNodeId(req.nodeId) });
      return {};
    }),
    transferLeadership: guarded(async (req, ctx) => {
      if (req.toNodeId) validateNodeId(req.toNodeId, "to_node_id");
      const leaderId = await groups.transferLeadership(group(req.group), req.toNodeId || undefined, ctx.timeoutMs() ?? deps.transferTimeoutMs);
      return { leaderId };
    }),
    addReplica: guarded(async (req) => {
      if (req.bootstrapVoters.length === 0) throw invalidArgument("bootstrap_voters is required");
      req.bootstrapVoters.forEach((id) => validateNodeId(id, "bootstrap_voters"));
      await groups.addGroup(group(req.group), req.bootstrapVoters);
      return {};
    }),
    removeReplica: guarded(async (req) => {
      await groups.removeGroup(group(req.group));
      return {};
    }),
    join: guarded((req, ctx) => deps.join(req, ctx)),
  };
}

function authenticate(token: string, ctx: HandlerContext): void {
  if (!token) throw new ConnectError("this node runs without a peer secret, so it takes no control calls", Code.FailedPrecondition);
  if (!tokenMatches(token, ctx.requestHeader.get(PEER_TOKEN_HEADER)))
    throw new ConnectError(`a control call needs the ${PEER_TOKEN_HEADER} header of a node of this cluster (the same --peer-secret)`, Code.Unauthenticated);
}

function statusMessage(group: number, s: GroupStatus | undefined) {
  if (!s) return [];
  return create(GroupStatusSchema, {
    group,
    leaderId: s.leaderId ?? "",
    leading: s.leading,
    term: BigInt(s.term),
    voters: s.voters,
    learners: s.learners,
    commit: BigInt(s.commit),
    membershipCommitted: s.membershipCommitted,
    applied: BigInt(s.applied),
    match: [...s.match].map(([nodeId, match]) => ({ nodeId, match: BigInt(match) })),
  });
}

const UNAVAILABLE = new Set(["NotLeaderError", "WriteLostError", "IndeterminateError", "OverloadedError"]);

/** A control call's failure as a Connect error that names its class (and whether it is a refusal as such). */
function controlFailure(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (!(err instanceof Error)) return new ConnectError(String(err), Code.Internal);
  const invalid = (err as { invalid?: unknown }).invalid === true;
  const code =
    err instanceof RangeError ? Code.InvalidArgument : UNAVAILABLE.has(err.name) ? Code.Unavailable : invalid ? Code.FailedPrecondition : Code.Aborted;
  const metadata = new Headers({ [ERROR_NAME_HEADER]: err.name, [ERROR_INVALID_HEADER]: invalid ? "1" : "0" });
  return new ConnectError(err.message, code, metadata);
}
