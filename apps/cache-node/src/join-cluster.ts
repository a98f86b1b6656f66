import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JoinResponse } from "@distcache/proto/raft";
import type { Logger } from "pino";
import { joinAt } from "./api/control-client.js";
import type { ClusterMember } from "./config/cluster-config.js";
import { ConfigError } from "./config/config-error.js";
import type { NodeConfig } from "./config/config.js";
import { readDataDirIdentity } from "./config/data-dir-identity.js";
import { writeFileDurably } from "./config/durable-file.js";
import { NodeBook } from "./placement/node-book.js";
import { JOIN_AUDIENCE, controlToken } from "./peer/control-token.js";

/** The cluster a node starts in: its bootstrap members, and every node it knows. */
export interface ClusterEntry {
  /** --initial-cluster as the cluster was bootstrapped (a joined node is not among them). */
  members: ClusterMember[];
  book: NodeBook;
  /** The cluster id the node it joined through answered (the node must derive the same one). */
  clusterId?: string;
}

/** How long a node started with --join keeps asking, while the cluster is unreachable or elects a meta leader. */
const JOIN_PATIENCE_MS = 120_000;
const JOIN_RETRY_MS = 1000;
/** Left in the data dir of a node removed from the cluster: it never starts again. */
export const REMOVED_FILE = "removed.json";

/** Members of the cluster; a node without --initial-cluster is a cluster of one. */
export function clusterMembers(config: NodeConfig): ClusterMember[] {
  if (config.initialCluster.length > 0) return config.initialCluster;
  return [{ id: config.nodeId, clientAddress: `${config.host}:${config.port}`, peerAddress: `${config.peerHost}:${config.peerPort}` }];
}

/**
 * Where the node starts: from --initial-cluster, or, with --join, from what the cluster
 * answers the first time (recorded in the data dir, so a restart needs no answer). Sets
 * the cluster's shard and replica counts on a joining node's config. Refuses a node
 * whose data dir records its removal.
 */
export async function enterCluster(config: NodeConfig, logger: Logger): Promise<ClusterEntry> {
  await refuseIfRemoved(config);
  if (!config.join) {
    const members = clusterMembers(config);
    return { members, book: await NodeBook.open(config.dataDir, members) };
  }
  const identity = await readDataDirIdentity(config.dataDir);
  if (identity) {
    const book = await NodeBook.open(config.dataDir, []);
    const members = identity.members.map((id) => book.bootstrap.find((m) => m.id === id) ?? book.get(id));
    if (members.some((m) => m === undefined)) {
      throw new ConfigError(`the data dir ${config.dataDir} lacks the addresses of its cluster's members (${join(config.dataDir, "nodes.json")})`);
    }
    config.shards = identity.shards;
    config.replicas = identity.replicas;
    logger.info({ clusterId: identity.clusterId }, "a member already: starting from the data dir, without asking --join");
    return { members: members as ClusterMember[], book, clusterId: identity.clusterId };
  }
  const answer = await askToJoin(config, logger);
  const members = answer.initialMembers.map(memberOf);
  await mkdir(config.dataDir, { recursive: true });
  const book = await NodeBook.open(config.dataDir, [...answer.nodes.map(memberOf), ...members]);
  book.joinedAt = Number(answer.epoch);
  book.bootstrap = members;
  await book.save();
  config.shards = answer.shards;
  config.replicas = answer.replicas;
  logger.info({ epoch: Number(answer.epoch), clusterId: answer.clusterId, nodes: answer.nodes.length }, "joined the cluster");
  return { members, book, clusterId: answer.clusterId };
}

/** This node's own entry, as other nodes reach it. */
export function advertised(config: NodeConfig): ClusterMember {
  return {
    id: config.nodeId,
    clientAddress: config.advertiseClient || `${config.host}:${config.port}`,
    peerAddress: config.advertisePeer || `${config.peerHost}:${config.peerPort}`,
  };
}

/** Join, retried while the cluster cannot answer; a refusal is final. */
async function askToJoin(config: NodeConfig, logger: Logger): Promise<JoinResponse> {
  const deadline = performance.now() + JOIN_PATIENCE_MS;
  const request = { node: advertised(config), fresh: true };
  for (let attempt = 1; ; attempt++) {
    try {
      return checkAnswer(await joinAt(config.join, controlToken(config.peerSecret, JOIN_AUDIENCE), request, config.operationTimeoutMs * 2));
    } catch (err) {
      const refusal = joinRefusal(config, err);
      if (refusal) throw refusal;
      if (performance.now() > deadline) throw new ConfigError(`could not join through ${config.join} within ${JOIN_PATIENCE_MS / 1000} s: ${String(err)}`);
      logger.warn({ err: String(err), attempt, join: config.join }, "joining the cluster: no answer yet, retrying");
      await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS));
    }
  }
}

/** A failure that retrying cannot fix, as the operator should read it. */
function joinRefusal(config: NodeConfig, err: unknown): ConfigError | undefined {
  if (err instanceof ConfigError) return err;
  if (!(err instanceof ConnectError)) return undefined;
  if (err.code === Code.Unauthenticated) {
    return new ConfigError(`the node at ${config.join} refused this node's token: --peer-secret differs from the cluster's`);
  }
  if ([Code.FailedPrecondition, Code.AlreadyExists, Code.InvalidArgument, Code.PermissionDenied, Code.Unimplemented].includes(err.code)) {
    return new ConfigError(`the cluster refused node ${config.nodeId} (${Code[err.code]}): ${err.rawMessage}`);
  }
  return undefined;
}

function checkAnswer(answer: JoinResponse): JoinResponse {
  const valid =
    answer.initialMembers.length > 0 &&
    answer.shards > 0 &&
    answer.replicas > 0 &&
    /^[0-9a-f]{32}$/.test(answer.clusterId) &&
    [...answer.initialMembers, ...answer.nodes].every((n) => n.id && n.clientAddress && n.peerAddress);
  if (!valid) throw new ConfigError("the node at --join answered an incomplete join (members, shards, replicas and cluster id are required)");
  return answer;
}

function memberOf(node: { id: string; clientAddress: string; peerAddress: string }): ClusterMember {
  return { id: node.id, clientAddress: node.clientAddress, peerAddress: node.peerAddress };
}

/** Records in the data dir that the cluster removed this node. */
export async function recordRemoval(dataDir: string, nodeId: string, epoch: number): Promise<void> {
  await writeFileDurably(join(dataDir, REMOVED_FILE), `${JSON.stringify({ nodeId, epoch })}\n`);
}

async function refuseIfRemoved(config: NodeConfig): Promise<void> {
  let text: string;
  try {
    text = await readFile(join(config.dataDir, REMOVED_FILE), "utf8");
  } catch {
    return;
  }
  const epoch = /"epoch":\s*(\d+)/.exec(text)?.[1] ?? "unknown";
  throw new ConfigError(
    `node ${config.nodeId} was removed from the cluster (epoch ${epoch}); a removed node never comes back: ` +
      "start a new node with a new --node-id and an empty --data-dir, and --join the cluster",
  );
}
