import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  ClusterService,
  ConfigureStoreResponseSchema,
  NotLeaderSchema,
  StoreSettingsSchema,
  TransferLeaderResponseSchema,
  type ConfigureStoreRequest,
  type ConfigureStoreResponse,
  type StoreSettings as StoreSettingsMessage,
  type TransferLeaderRequest,
  type TransferLeaderResponse,
} from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { ClusterMember } from "../config/cluster-config.js";
import type { Limits } from "../config/config.js";
import type { ConsensusPort } from "../consensus/consensus-port.js";
import { consensusFailure } from "../routing/consensus-errors.js";
import { NotLeaderError, TransferError, WriteLostError } from "../consensus/port-errors.js";
import { validateNodeId } from "./request-validation.js";
import { apiPolicy, changeCommand, validateSettingsChange, type SettingsChange } from "../state-machine/store-settings.js";
import type { MetaView } from "../placement/meta-view.js";
import { FORWARDED_HEADER } from "./forwarded-header.js";
import { addNode, removeNode, type MembershipDeps } from "./membership-calls.js";
import type { ClusterView, TopologyView } from "../placement/cluster-view.js";
import type { StreamGate } from "./stream-gate.js";

export interface ClusterServiceDeps {
  nodeId: string;
  members: () => readonly ClusterMember[];
  ring: Ring;
  consensus: ConsensusPort;
  /** Longest a TransferLeader call waits for the new leader when the caller set no deadline. */
  transferTimeoutMs: number;
  /** The node's request limits: a shard's bytes_max must hold one largest entry they allow. */
  limits: Pick<Limits, "keyBytesMax" | "valueBytesMax">;
  /** Longest a ConfigureStore call waits for its shards when the caller set no deadline. */
  operationTimeoutMs: number;
  /** Longest wait for a shard's leader to be known before answering "no leader known". */
  leaderWaitMs: number;
  /** The meta document as this node knows it: the epoch and the nodes. */
  meta: Pick<MetaView, "epoch" | "summary">;
  /** What AddNode and RemoveNode need. */
  membership: MembershipDeps;
  /** Every shard's leader, term and replicas as this node knows them, and their changes. */
  view: Pick<ClusterView, "current" | "subscribe">;
  /** The limits WatchTopology streams share with every server stream. */
  streams: StreamGate;
}

export { FORWARDED_HEADER };

/** ClusterService: topology as this node knows it, membership changes (through the meta group), leadership moves and store settings. */
export function createClusterService(deps: ClusterServiceDeps): Partial<ServiceImpl<typeof ClusterService>> {
  // The epoch and the nodes come from the meta document; each shard's group from the cluster view.
  const topology = async (forwarded: boolean) => {
    const summary = await (forwarded ? localSummary(deps) : deps.meta.summary());
    return topologyMessage(deps, { ...deps.view.current(), ...(summary ?? { epoch: 0, nodes: undefined }) });
  };
  const streamed = (view: TopologyView, progress: boolean) => ({ topology: topologyMessage(deps, view), progress });
  return {
    getTopology: async (_req, ctx) => ({ topology: await topology(ctx.requestHeader.get(FORWARDED_HEADER) !== null) }),
    watchTopology: (_req, ctx) =>
      deps.streams.serve(
        {
          first: () => [streamed(deps.view.current(), false)],
          subscribe: (push) => deps.view.subscribe((view) => push(streamed(view, false))),
          progress: () => streamed(deps.view.current(), true),
        },
        ctx,
      ),
    addNode: (req, ctx) => addNode(deps.membership, req, ctx),
    removeNode: (req, ctx) => removeNode(deps.membership, req, ctx),
    transferLeader: (req, ctx) => transferLeader(deps, req, ctx),
    configureStore: (req, ctx) => configureStore(deps, req, ctx),
  };
}

/** A call another node forwarded is answered from this node's own replica only (never forwarded on). */
function localSummary(deps: ClusterServiceDeps): ReturnType<ClusterServiceDeps["meta"]["summary"]> {
  return deps.meta.epoch() > 0 ? deps.meta.summary() : Promise.resolve(undefined);
}

/** The nodes of the meta document (this node's own entry with the address it bound), or --initial-cluster's before it is known. */
function topologyNodes(deps: ClusterServiceDeps, nodes: readonly { id: string; clientAddress: string; peerAddress: string }[] | undefined) {
  const members = deps.members();
  const self = members.find((m) => m.id === deps.nodeId);
  return (nodes ?? members).map((m) => ({
    id: m.id,
    clientAddress: m.id === deps.nodeId && self ? self.clientAddress : m.clientAddress,
    peerAddress: m.peerAddress,
  }));
}

/** The Topology message of a view; nodes undefined (the meta document not known yet) are --initial-cluster's. */
function topologyMessage(deps: ClusterServiceDeps, view: { epoch: number; nodes: TopologyView["nodes"] | undefined; shards: TopologyView["shards"] }) {
  return {
    epoch: BigInt(view.epoch),
    ring: { shardCount: deps.consensus.shardCount, pointsPerShard: deps.ring.pointsPerShard },
    nodes: topologyNodes(deps, view.nodes?.length ? view.nodes : undefined),
    shards: view.shards.map((s) => ({ id: s.shard, replicas: s.voters, learners: s.learners, leaderId: s.leaderId ?? "", term: BigInt(s.term) })),
  };
}

/**
 * Changes shards' store settings through their logs (invariant 10 of docs/design.md): checked here,
 * proposed at each shard's leader (forwarded there once, like writes), answered once
 * applied there with the settings then in force. Setting values is idempotent, so a
 * caller may retry any failure.
 */
async function configureStore(deps: ClusterServiceDeps, req: ConfigureStoreRequest, ctx: HandlerContext): Promise<ConfigureStoreResponse> {
  const { consensus } = deps;
  for (const shard of req.shards) {
    if (shard >= consensus.shardCount) throw new ConnectError(`unknown shard ${shard}: shards are 0 to ${consensus.shardCount - 1}`, Code.InvalidArgument);
  }
  const checked = validateSettingsChange(req, deps.limits);
  if (!checked.ok) throw new ConnectError(checked.message, Code.InvalidArgument);
  const shards = req.shards.length > 0 ? [...new Set(req.shards)].sort((a, b) => a - b) : Array.from({ length: consensus.shardCount }, (_, i) => i);
  const deadline = Date.now() + (ctx.timeoutMs() ?? deps.operationTimeoutMs);
  const results = await Promise.all(shards.map((shard) => configureShard(deps, shard, checked.change, req, ctx, deadline)));
  return create(ConfigureStoreResponseSchema, { shards: results });
}

async function configureShard(
  deps: ClusterServiceDeps,
  shard: number,
  change: SettingsChange,
  req: ConfigureStoreRequest,
  ctx: HandlerContext,
  deadline: number,
): Promise<StoreSettingsMessage> {
  let refusal: NotLeaderError;
  try {
    return await configureHere(deps, shard, change);
  } catch (err) {
    if (!(err instanceof NotLeaderError)) throw err;
    refusal = err;
  }
  // Refused before anything was proposed: trying again, here or at the leader, is safe.
  let leaderId = refusal.leaderId !== deps.nodeId ? refusal.leaderId : undefined;
  if (leaderId === undefined && deps.consensus.hosts(shard)) {
    const known = await deps.consensus.awaitLeader(shard, Math.max(0, Math.min(deadline - Date.now(), deps.leaderWaitMs)));
    if (known) {
      try {
        return await configureHere(deps, shard, change);
      } catch (err) {
        if (!(err instanceof NotLeaderError)) throw err;
        refusal = err;
        leaderId = err.leaderId !== deps.nodeId ? err.leaderId : undefined;
      }
    }
  }
  const forwarded = ctx.requestHeader.get(FORWARDED_HEADER) !== null;
  if (leaderId === undefined || forwarded) throw notLeaderAnswer(deps, shard, refusal, leaderId);
  const one = { shards: [shard], policy: req.policy, entriesMax: req.entriesMax, bytesMax: req.bytesMax };
  const call = (to: string) => {
    const address = deps.members().find((m) => m.id === to)?.clientAddress;
    if (!address) throw notLeaderAnswer(deps, shard, refusal, undefined);
    const timeoutMs = Math.max(1, deadline - Date.now());
    const leader = createClient(ClusterService, createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "1.1" }));
    return leader.configureStore(one, { timeoutMs, headers: { [FORWARDED_HEADER]: deps.nodeId }, signal: ctx.signal });
  };
  let response: ConfigureStoreResponse;
  try {
    response = await call(leaderId);
  } catch (err) {
    // The node we guessed (a replica, for a shard this node does not hold) refused before
    // proposing and named the leader: one more try there.
    const redirect = err instanceof ConnectError && err.code === Code.FailedPrecondition ? err.findDetails(NotLeaderSchema)[0]?.leaderId : undefined;
    if (!redirect || redirect === leaderId || redirect === deps.nodeId) throw err;
    response = await call(redirect);
  }
  const settings = response.shards.find((s) => s.shard === shard);
  if (!settings) throw new ConnectError(`the leader of shard ${shard} answered without its settings`, Code.Internal);
  return settings;
}

/** Proposes the change on this node, which must lead the shard; resolves once applied here. */
async function configureHere(deps: ClusterServiceDeps, shard: number, change: SettingsChange): Promise<StoreSettingsMessage> {
  try {
    const result = await deps.consensus.propose(shard, { case: "configure", value: changeCommand(change) });
    if (result.type === "refused")
      throw new ConnectError(`shard ${shard} refused the settings: ${result.reason === "invalid" ? result.message : result.reason}`, Code.InvalidArgument);
  } catch (err) {
    if (err instanceof WriteLostError) throw new ConnectError(`${err.message}`, Code.Unavailable);
    throw consensusFailure(err) ?? err;
  }
  const options = deps.consensus.replica(shard).store.options;
  return create(StoreSettingsSchema, { shard, policy: apiPolicy(options.policy), entriesMax: BigInt(options.entriesMax), bytesMax: BigInt(options.bytesMax) });
}

/** A NotLeader answer: failed_precondition naming the leader, or unavailable when none is known. */
function notLeaderAnswer(deps: ClusterServiceDeps, shard: number, err: NotLeaderError, leaderId: string | undefined): ConnectError {
  const leaderAddress = leaderId ? (deps.members().find((m) => m.id === leaderId)?.clientAddress ?? "") : "";
  const detail = create(NotLeaderSchema, { shard, leaderId: leaderId ?? "", leaderAddress, epoch: BigInt(deps.meta.epoch()) });
  const code = leaderId ? Code.FailedPrecondition : Code.Unavailable;
  return new ConnectError(leaderId ? err.message : `${err.message}; no leader known, retry`, code, undefined, [{ desc: NotLeaderSchema, value: detail }]);
}

/**
 * Moves a shard's leadership. The leader does it; any other node that knows the leader
 * forwards the call there once.
 */
async function transferLeader(deps: ClusterServiceDeps, req: TransferLeaderRequest, ctx: HandlerContext): Promise<TransferLeaderResponse> {
  const { consensus } = deps;
  if (req.shard >= consensus.shardCount) {
    throw new ConnectError(`unknown shard ${req.shard}: shards are 0 to ${consensus.shardCount - 1}`, Code.InvalidArgument);
  }
  const to = req.toNodeId || undefined;
  if (to !== undefined) validateNodeId(to, "to_node_id");
  if (to !== undefined && !deps.members().some((m) => m.id === to)) {
    throw new ConnectError(
      `unknown node "${to}": members are ${deps
        .members()
        .map((m) => m.id)
        .join(", ")}`,
      Code.InvalidArgument,
    );
  }
  if (!consensus.hosts(req.shard)) {
    throw new ConnectError(`node ${deps.nodeId} holds no replica of shard ${req.shard}; call one of its replicas`, Code.FailedPrecondition);
  }
  const timeoutMs = ctx.timeoutMs() ?? deps.transferTimeoutMs;
  try {
    return create(TransferLeaderResponseSchema, { leaderId: await consensus.transferLeadership(req.shard, to, timeoutMs) });
  } catch (err) {
    if (err instanceof TransferError) throw new ConnectError(err.message, err.invalid ? Code.InvalidArgument : Code.Unavailable);
    if (!(err instanceof NotLeaderError)) throw err;
    const leaderId = err.leaderId && err.leaderId !== deps.nodeId ? err.leaderId : "";
    const leaderAddress = deps.members().find((m) => m.id === leaderId)?.clientAddress ?? "";
    if (!leaderAddress || ctx.requestHeader.get(FORWARDED_HEADER)) {
      const detail = create(NotLeaderSchema, { shard: req.shard, leaderId, leaderAddress, epoch: BigInt(deps.meta.epoch()) });
      const code = leaderId ? Code.FailedPrecondition : Code.Unavailable;
      throw new ConnectError(leaderId ? err.message : `${err.message}; no leader known, retry`, code, undefined, [{ desc: NotLeaderSchema, value: detail }]);
    }
    const leader = createClient(ClusterService, createConnectTransport({ baseUrl: `http://${leaderAddress}`, httpVersion: "1.1" }));
    return leader.transferLeader(req, { timeoutMs, headers: { [FORWARDED_HEADER]: deps.nodeId }, signal: ctx.signal });
  }
}
