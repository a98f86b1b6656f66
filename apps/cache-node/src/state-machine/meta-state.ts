import { NODE_ID_PATTERN } from "@distcache/proto/limits";

/**
 * The cluster's intended shape, as the meta group will replicate it: the nodes (with
 * their addresses), the ids removed for good (tombstones: never reused), the replicas
 * each shard should have, the ring's parameters, and an epoch that grows with every
 * change of any of them (leader changes are no change). Pure and deterministic: apply
 * never throws, whatever the command, and answers a refusal the same on every replica.
 * Each group's own Raft configuration stays the truth about who replicates it; this is
 * what the placement driver steers the groups toward.
 */

/** Most nodes a cluster may hold (live and leaving); tombstones are bounded the same. */
export const META_NODES_MAX = 256;
/** Most replicas a shard may be placed on (the Raft core's voter limit). */
export const META_REPLICAS_MAX = 9;
/** Longest address, in characters. */
const ADDRESS_CHARS_MAX = 255;

export interface MetaNode {
  id: string;
  clientAddress: string;
  peerAddress: string;
  /** Asked to leave: its replicas move away, then it is removed for good. */
  leaving: boolean;
}

export interface MetaState {
  epoch: number;
  shardCount: number;
  pointsPerShard: number;
  /** By id, ascending. */
  nodes: MetaNode[];
  /** Ids removed for good, ascending. */
  removed: string[];
  /** Per shard, the nodes that should hold its replicas. */
  placement: string[][];
  /**
   * Per shard, the voters its group was bootstrapped with (the first placement), never
   * changed: a replica created later is created with them, so that it reads the group's
   * log from its first entry under the same configuration as every other replica.
   */
  bootstrapVoters: string[][];
  /** The voters the meta group itself was bootstrapped with, never changed. */
  metaBootstrapVoters: string[];
}

export type MetaCommand =
  | {
      kind: "bootstrap";
      nodes: { id: string; clientAddress: string; peerAddress: string }[];
      shardCount: number;
      pointsPerShard: number;
      placement: string[][];
      /** The meta group's voters, as it is bootstrapped. */
      metaVoters: string[];
    }
  | { kind: "addNode"; id: string; clientAddress: string; peerAddress: string; placement?: string[][] }
  | { kind: "removeNode"; id: string; placement?: string[][] }
  | { kind: "forgetNode"; id: string }
  | { kind: "place"; shard: number; replicas: string[] };

/** Why a command was refused: the Connect code a client would get, and a message. */
export type MetaRefusal = { code: "invalid_argument" | "already_exists" | "not_found" | "failed_precondition" | "resource_exhausted"; message: string };

export type MetaResult = { ok: true; epoch: number } | { ok: false; refusal: MetaRefusal };

export const EMPTY_META_STATE: MetaState = Object.freeze({
  epoch: 0,
  shardCount: 0,
  pointsPerShard: 0,
  nodes: [],
  removed: [],
  placement: [],
  bootstrapVoters: [],
  metaBootstrapVoters: [],
}) as MetaState;

const refuse = (code: MetaRefusal["code"], message: string): { ok: false; refusal: MetaRefusal } => ({ ok: false, refusal: { code, message } });

/** The state after `command`, and its result; `state` is never modified. */
export function applyMeta(state: MetaState, command: MetaCommand): { state: MetaState; result: MetaResult } {
  const outcome = decide(state, command);
  if ("refusal" in outcome) return { state, result: outcome };
  const next = { ...outcome.next, epoch: state.epoch + 1 };
  return { state: next, result: { ok: true, epoch: next.epoch } };
}

function decide(state: MetaState, command: MetaCommand): { next: Omit<MetaState, "epoch"> } | { ok: false; refusal: MetaRefusal } {
  if (command.kind !== "bootstrap" && state.epoch === 0) return refuse("failed_precondition", "the cluster is not bootstrapped yet");
  switch (command.kind) {
    case "bootstrap":
      return bootstrap(state, command);
    case "addNode":
      return replaced(addNode(state, command), command.placement);
    case "removeNode":
      return replaced(removeNode(state, command.id), command.placement);
    case "forgetNode":
      return forgetNode(state, command.id);
    case "place":
      return place(state, command.shard, command.replicas);
    default:
      return refuse("invalid_argument", `unknown meta command ${String((command as { kind: unknown }).kind)}`);
  }
}

function bootstrap(state: MetaState, c: Extract<MetaCommand, { kind: "bootstrap" }>) {
  if (state.epoch !== 0) return refuse("failed_precondition", "the cluster is bootstrapped already");
  if (!Number.isSafeInteger(c.shardCount) || c.shardCount < 1 || c.shardCount > 4096)
    return refuse("invalid_argument", `shard count ${c.shardCount} is not 1 to 4096`);
  if (!Number.isSafeInteger(c.pointsPerShard) || c.pointsPerShard < 1 || c.pointsPerShard > 65_536)
    return refuse("invalid_argument", `points per shard ${c.pointsPerShard} is not 1 to 65536`);
  if (!Array.isArray(c.nodes) || c.nodes.length < 1 || c.nodes.length > META_NODES_MAX)
    return refuse("invalid_argument", `a cluster of 1 to ${META_NODES_MAX} nodes`);
  const nodes: MetaNode[] = [];
  for (const n of c.nodes) {
    const problem = nodeProblem(n);
    if (problem) return refuse("invalid_argument", problem);
    if (nodes.some((m) => m.id === n.id)) return refuse("invalid_argument", `node ${n.id} is named twice`);
    nodes.push({ id: n.id, clientAddress: n.clientAddress, peerAddress: n.peerAddress, leaving: false });
  }
  nodes.sort(byId);
  if (!Array.isArray(c.placement) || c.placement.length !== c.shardCount) return refuse("invalid_argument", `a placement of ${c.shardCount} shards`);
  const draft = {
    shardCount: c.shardCount,
    pointsPerShard: c.pointsPerShard,
    nodes,
    removed: [],
    placement: [] as string[][],
    bootstrapVoters: [] as string[][],
    metaBootstrapVoters: [] as string[],
  };
  const metaProblem = replicasProblem(draft, c.shardCount, c.metaVoters);
  if (metaProblem) return refuse("invalid_argument", `the meta group's voters: ${metaProblem}`);
  draft.metaBootstrapVoters = [...c.metaVoters];
  for (let shard = 0; shard < c.shardCount; shard++) {
    const problem = replicasProblem(draft, shard, c.placement[shard]);
    if (problem) return refuse("invalid_argument", problem);
    draft.placement.push([...c.placement[shard]!].sort());
    draft.bootstrapVoters.push([...c.placement[shard]!]);
  }
  return { next: draft };
}

function addNode(state: MetaState, n: { id: string; clientAddress: string; peerAddress: string }) {
  const problem = nodeProblem(n);
  if (problem) return refuse("invalid_argument", problem);
  if (state.removed.includes(n.id))
    return refuse("failed_precondition", `node id ${n.id} was removed from the cluster and is never reused: add the node under a new id`);
  if (state.nodes.some((m) => m.id === n.id)) return refuse("already_exists", `node ${n.id} is a member already`);
  if (state.nodes.length >= META_NODES_MAX) return refuse("resource_exhausted", `the cluster holds ${META_NODES_MAX} nodes, its most`);
  const nodes = [...state.nodes, { id: n.id, clientAddress: n.clientAddress, peerAddress: n.peerAddress, leaving: false }].sort(byId);
  return { next: { ...state, nodes } };
}

function removeNode(state: MetaState, id: string) {
  const node = state.nodes.find((m) => m.id === id);
  if (!node) return refuse("not_found", `node ${id} is not a member`);
  if (node.leaving) return refuse("failed_precondition", `node ${id} is leaving already`);
  if (state.nodes.filter((m) => !m.leaving).length === 1) return refuse("failed_precondition", `node ${id} is the last member`);
  return { next: { ...state, nodes: state.nodes.map((m) => (m.id === id ? { ...m, leaving: true } : m)) } };
}

/**
 * The outcome with its placement replaced by `placement` (the whole new placement, which
 * addNode and removeNode may carry so that a node and the replicas it gains or loses
 * change in one step), checked against the nodes after the change.
 */
function replaced(outcome: ReturnType<typeof addNode>, placement: unknown): ReturnType<typeof addNode> {
  if ("refusal" in outcome || placement === undefined) return outcome;
  const next = outcome.next;
  if (!Array.isArray(placement) || placement.length !== next.shardCount) return refuse("invalid_argument", `a placement of ${next.shardCount} shards`);
  const shards: string[][] = [];
  for (let shard = 0; shard < next.shardCount; shard++) {
    const problem = replicasProblem(next, shard, placement[shard]);
    if (problem) return refuse("invalid_argument", problem);
    shards.push([...(placement[shard] as string[])].sort());
  }
  return { next: { ...next, placement: shards } };
}

function forgetNode(state: MetaState, id: string) {
  const node = state.nodes.find((m) => m.id === id);
  if (!node) return refuse("not_found", `node ${id} is not a member`);
  if (!node.leaving) return refuse("failed_precondition", `node ${id} is not leaving: remove it first`);
  const holding = state.placement.flatMap((replicas, shard) => (replicas.includes(id) ? [shard] : []));
  if (holding.length > 0) return refuse("failed_precondition", `node ${id} is still placed on shards ${holding.join(",")}`);
  if (state.removed.length >= META_NODES_MAX) return refuse("resource_exhausted", `the cluster keeps ${META_NODES_MAX} removed ids, its most`);
  return { next: { ...state, nodes: state.nodes.filter((m) => m.id !== id), removed: [...state.removed, id].sort() } };
}

function place(state: MetaState, shard: number, replicas: string[]) {
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= state.shardCount)
    return refuse("invalid_argument", `no shard ${shard} (${state.shardCount} shards)`);
  const problem = replicasProblem(state, shard, replicas);
  if (problem) return refuse("invalid_argument", problem);
  const placement = state.placement.map((current, s) => (s === shard ? [...replicas].sort() : current));
  return { next: { ...state, placement } };
}

function nodeProblem(n: { id: unknown; clientAddress: unknown; peerAddress: unknown }): string | undefined {
  if (typeof n.id !== "string" || !NODE_ID_PATTERN.test(n.id)) return `node id ${JSON.stringify(n.id)} is not 1-64 of [A-Za-z0-9_.-]`;
  for (const [name, value] of [
    ["client address", n.clientAddress],
    ["peer address", n.peerAddress],
  ] as const) {
    if (typeof value !== "string" || value.length === 0 || value.length > ADDRESS_CHARS_MAX)
      return `node ${n.id}: a ${name} of 1 to ${ADDRESS_CHARS_MAX} characters`;
  }
  return undefined;
}

function replicasProblem(state: Pick<MetaState, "nodes">, shard: number, replicas: unknown): string | undefined {
  if (!Array.isArray(replicas) || replicas.length < 1 || replicas.length > META_REPLICAS_MAX) return `shard ${shard}: 1 to ${META_REPLICAS_MAX} replicas`;
  if (new Set(replicas).size !== replicas.length) return `shard ${shard}: a node is named twice`;
  for (const id of replicas) {
    const node = state.nodes.find((m) => m.id === id);
    if (!node) return `shard ${shard}: ${String(id)} is not a member`;
    if (node.leaving) return `shard ${shard}: ${id} is leaving`;
  }
  return undefined;
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
