import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type CallOptions, type Client, type HandlerContext } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  AddNodeRequestSchema,
  AddNodeResponseSchema,
  ClusterService,
  NotLeaderSchema,
  RemoveNodeResponseSchema,
  type AddNodeRequest,
  type AddNodeResponse,
  type RemoveNodeRequest,
  type RemoveNodeResponse,
} from "@distcache/proto";
import { JoinResponseSchema, type JoinRequest, type JoinResponse } from "@distcache/proto/raft";
import { NotLeaderError } from "../consensus/port-errors.js";
import type { MetaSummary } from "../placement/meta-view.js";
import type { MetaStore } from "../placement/meta-store.js";
import { planPlacement } from "../placement/plan-placement.js";
import { applyMeta, type MetaCommand, type MetaRefusal, type MetaState } from "../state-machine/meta-state.js";
import { isHostPort } from "../config/cluster-config.js";
import { ADMIN_TOKEN_HEADER, tokenMatches } from "../peer/control-token.js";
import { invalidArgument } from "./connect-errors.js";
import { validateNodeId } from "./request-validation.js";
import { FORWARDED_HEADER as FORWARDED } from "./forwarded-header.js";

export interface MembershipDeps {
  nodeId: string;
  /** The meta document through this node's replica of the meta group (if it holds one). */
  metaStore: MetaStore;
  /** Client addresses of the other nodes that hold the meta group, to forward to when this node does not lead it. */
  metaHolders: () => string[];
  /** The client address of a member of the meta document, if known. */
  clientAddress: (id: string) => string | undefined;
  /** Replicas per shard the placement aims at (fewer while fewer nodes are live). */
  replicas: number;
  /** Longest a call waits when the caller set no deadline. */
  operationTimeoutMs: number;
  /** Longest wait for the meta group's leader to be known. */
  leaderWaitMs: number;
  awaitLeader: (group: number, timeoutMs: number) => Promise<unknown>;
  /** The token AddNode and RemoveNode need (adminToken of the peer secret); empty without one. */
  adminToken: string;
}

/**
 * AddNode and RemoveNode change what the cluster is made of, so they are an
 * administrator's: the caller proves the peer secret with the admin token (a node that
 * forwards the call adds its own).
 */
function authorizeAdmin(deps: MembershipDeps, ctx: HandlerContext): void {
  if (!deps.adminToken) throw new ConnectError("this node runs without a peer secret, so its membership cannot change", Code.FailedPrecondition);
  if (!tokenMatches(deps.adminToken, ctx.requestHeader.get(ADMIN_TOKEN_HEADER))) {
    throw new ConnectError(
      `AddNode and RemoveNode need the ${ADMIN_TOKEN_HEADER} header: HMAC-SHA256 of "distcache-cluster-admin-v1" keyed by the peer secret, ` +
        `in hex (printf distcache-cluster-admin-v1 | openssl dgst -sha256 -hmac "$(cat peer-secret)")`,
      Code.Unauthenticated,
    );
  }
}

/** A host:port of at most 255 characters, with a port from 1 to 65535 (isHostPort). */
function validateAddress(address: string, field: string): void {
  if (!isHostPort(address)) {
    throw invalidArgument(`${field} must be host:port with a port from 1 to 65535, at most 255 characters; got ${JSON.stringify(address.slice(0, 80))}`);
  }
}

const REFUSAL_CODES: Record<MetaRefusal["code"], Code> = {
  invalid_argument: Code.InvalidArgument,
  already_exists: Code.AlreadyExists,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
};

/**
 * AddNode: the node joins the meta document, and the placement is planned again in the
 * same write (plan-placement.ts), so the node's share of replicas is placed on it; the
 * placement driver then moves them. Adding a member again with the same addresses
 * answers the current epoch (a retried join); with other addresses, already_exists.
 */
export async function addNode(deps: MembershipDeps, req: AddNodeRequest, ctx: HandlerContext): Promise<AddNodeResponse> {
  authorizeAdmin(deps, ctx);
  return addMember(deps, req, ctx);
}

/** AddNode, once the caller is known to hold the peer secret. */
async function addMember(deps: MembershipDeps, req: AddNodeRequest, ctx: HandlerContext): Promise<AddNodeResponse> {
  const node = req.node;
  if (!node) throw invalidArgument("node is required");
  validateNodeId(node.id, "node.id");
  validateAddress(node.clientAddress, "node.client_address");
  validateAddress(node.peerAddress, "node.peer_address");
  const there: Remote = async (client, options) => Number((await client.addNode(req, options)).epoch);
  const epoch = await atMetaLeader(deps, ctx, there, async () => {
    const current = (await deps.metaStore.read())?.state;
    const same = current?.nodes.find((n) => n.id === node.id && !n.leaving);
    if (same && same.clientAddress === node.clientAddress && same.peerAddress === node.peerAddress) return current!.epoch;
    const command: MetaCommand = { kind: "addNode", id: node.id, clientAddress: node.clientAddress, peerAddress: node.peerAddress };
    return change(deps, command);
  });
  return create(AddNodeResponseSchema, { epoch: BigInt(epoch) });
}

/**
 * RemoveNode: the node is marked leaving and its replicas are placed on the others in the
 * same write; the placement driver moves them away, from the node or (when it is gone)
 * from each group's surviving majority, and then removes the node for good. Removing a
 * node that is leaving already answers the current epoch.
 */
export async function removeNode(deps: MembershipDeps, req: RemoveNodeRequest, ctx: HandlerContext): Promise<RemoveNodeResponse> {
  authorizeAdmin(deps, ctx);
  validateNodeId(req.nodeId, "node_id");
  const there: Remote = async (client, options) => Number((await client.removeNode(req, options)).epoch);
  const epoch = await atMetaLeader(deps, ctx, there, async () => {
    const current = (await deps.metaStore.read())?.state;
    if (current?.nodes.some((n) => n.id === req.nodeId && n.leaving)) return current.epoch;
    return change(deps, { kind: "removeNode", id: req.nodeId });
  });
  return create(RemoveNodeResponseSchema, { epoch: BigInt(epoch) });
}

/** Writes `command` with the placement planned from the document it applies to; the epoch after it. */
async function change(deps: MembershipDeps, command: Extract<MetaCommand, { kind: "addNode" | "removeNode" }>): Promise<number> {
  const planned = (current: MetaState): MetaCommand => {
    const after = applyMeta(current, command);
    return after.result.ok ? { ...command, placement: planPlacement(after.state, deps.replicas) } : command;
  };
  const result = await deps.metaStore.apply(planned);
  if (!result.ok) throw new ConnectError(result.refusal.message, REFUSAL_CODES[result.refusal.code]);
  return result.epoch;
}

type ClusterClient = Client<typeof ClusterService>;
type Remote = (client: ClusterClient, options: CallOptions) => Promise<number>;

/**
 * Runs `here` when this node leads the meta group; else forwards the call once: to the
 * leader it knows of, or to each node holding the meta group in turn, following a
 * NotLeader answer's leader address once.
 */
async function atMetaLeader(deps: MembershipDeps, ctx: HandlerContext, there: Remote, here: () => Promise<number>): Promise<number> {
  const { metaStore, nodeId } = deps;
  const timeoutMs = ctx.timeoutMs() ?? deps.operationTimeoutMs;
  if (metaStore.hosted() && !metaStore.leads(nodeId)) await deps.awaitLeader(metaStore.group, Math.min(timeoutMs, deps.leaderWaitMs));
  if (metaStore.leads(nodeId)) {
    try {
      return await here();
    } catch (err) {
      throw metaFailure(err);
    }
  }
  const leaderId = metaStore.hosted() ? metaStore.leaderId() : undefined;
  if (ctx.requestHeader.get(FORWARDED) !== null) throw notMetaLeader(deps, leaderId);
  const known = leaderId !== undefined ? deps.clientAddress(leaderId) : undefined;
  const targets = [...new Set([...(known ? [known] : []), ...deps.metaHolders()])];
  const options: CallOptions = { timeoutMs, headers: { [FORWARDED]: nodeId, [ADMIN_TOKEN_HEADER]: deps.adminToken }, signal: ctx.signal };
  let last: unknown;
  for (const address of targets) {
    try {
      return await there(clientAt(address), options);
    } catch (err) {
      const redirect = err instanceof ConnectError && err.code === Code.FailedPrecondition ? err.findDetails(NotLeaderSchema)[0]?.leaderAddress : undefined;
      if (redirect && redirect !== address) return there(clientAt(redirect), options);
      if (err instanceof ConnectError && err.code !== Code.Unavailable && !err.findDetails(NotLeaderSchema).length) throw err;
      last = err;
    }
  }
  throw new ConnectError(
    `no node holding the meta group answered as its leader; retry (${String((last as Error | undefined)?.message ?? "none known")})`,
    Code.Unavailable,
  );
}

const clientAt = (address: string): ClusterClient => createClient(ClusterService, createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "1.1" }));

/** The answer to a failure at the meta leader: its leadership lost, or the write's outcome unknown (both: retry). */
function metaFailure(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  if (err instanceof NotLeaderError) return new ConnectError(`the meta group's leadership moved: ${err.message}; retry`, Code.Unavailable);
  if (err instanceof Error && ["IndeterminateError", "WriteLostError", "MetaWriteError", "OverloadedError"].includes(err.name))
    return new ConnectError(`the placement change may not have been written: ${err.message}; retry`, Code.Unavailable);
  return err;
}

/** A forwarded call that reached a node not leading the meta group: NotLeader naming the leader (failed_precondition), or unavailable. */
function notMetaLeader(deps: MembershipDeps, leaderId: string | undefined): ConnectError {
  const group = deps.metaStore.group;
  const leaderAddress = leaderId ? (deps.clientAddress(leaderId) ?? "") : "";
  const detail = create(NotLeaderSchema, { shard: group, leaderId: leaderId ?? "", leaderAddress });
  if (!leaderAddress)
    return new ConnectError(`node ${deps.nodeId} does not lead the meta group and knows no leader; retry`, Code.Unavailable, undefined, [
      { desc: NotLeaderSchema, value: detail },
    ]);
  return new ConnectError(`node ${deps.nodeId} does not lead the meta group; ${leaderId} does`, Code.FailedPrecondition, undefined, [
    { desc: NotLeaderSchema, value: detail },
  ]);
}

/** What a node that joins needs to know of the cluster: how it was bootstrapped (to derive the same identity), and its nodes now. */
export interface JoinDeps extends MembershipDeps {
  /** The cluster id, and --initial-cluster, shards and replicas as the cluster was bootstrapped with them. */
  identity: { clusterId: string; members: readonly { id: string; clientAddress: string; peerAddress: string }[]; shards: number; replicas: number };
  summary: () => Promise<MetaSummary | undefined>;
}

/**
 * Join (ReplicaControlService): AddNode for a node that starts with --join, answered with
 * what it needs to start. A node whose data dir is empty (fresh) is refused under an id
 * the cluster knows: it has forgotten what its replicas promised under that id.
 */
export async function join(deps: JoinDeps, req: JoinRequest, ctx: HandlerContext): Promise<JoinResponse> {
  const node = req.node;
  if (!node) throw invalidArgument("node is required");
  validateNodeId(node.id, "node.id");
  if (req.fresh && (await deps.summary())?.nodes.some((n) => n.id === node.id)) {
    throw new ConnectError(
      `node ${node.id} is a member of the cluster already, and its data dir is empty: ` +
        "a member that lost its data never comes back under its id; start it with a new --node-id",
      Code.FailedPrecondition,
    );
  }
  const { epoch } = await addMember(deps, create(AddNodeRequestSchema, { node }), ctx);
  const nodes = (await deps.summary())?.nodes ?? [];
  const now = (m: { id: string; clientAddress: string; peerAddress: string }) => nodes.find((n) => n.id === m.id) ?? m;
  return create(JoinResponseSchema, {
    epoch,
    initialMembers: deps.identity.members.map((m) => ({ ...now(m), id: m.id })),
    shards: deps.identity.shards,
    replicas: deps.identity.replicas,
    clusterId: deps.identity.clusterId,
    nodes,
  });
}
