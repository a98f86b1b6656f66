import { NODE_ID_PATTERN } from "@distcache/proto/limits";
import type { MetaCommand, MetaNode, MetaState } from "../state-machine/meta-state.js";

/**
 * The meta group: a Raft group of its own beside the shards' (its group id is the shard
 * count, one past the last shard), replicated on a few nodes, whose one key holds the
 * cluster's intended shape (meta-state.ts) as a JSON document. It is written by
 * compare-and-set only (meta-store.ts), so every change is computed from the document it
 * replaces.
 */

/** The key of the meta document in the meta group's store. */
export const META_KEY = "meta";

/** How many voters the meta group has in a cluster of `nodes` nodes: 3, or 5 once there are 5 or more (all of them below 3). */
export function metaVoterCount(nodes: number): number {
  return nodes >= 5 ? 5 : Math.min(3, nodes);
}

/** The meta group's bootstrap voters: the first members in --initial-cluster order. */
export function initialMetaVoters(memberIds: readonly string[]): string[] {
  return memberIds.slice(0, metaVoterCount(memberIds.length));
}

/** The bootstrap command of a cluster that starts from --initial-cluster. */
export function bootstrapCommand(
  members: readonly { id: string; clientAddress: string; peerAddress: string }[],
  placement: readonly (readonly string[])[],
  pointsPerShard: number,
): MetaCommand {
  return {
    kind: "bootstrap",
    nodes: members.map((m) => ({ id: m.id, clientAddress: m.clientAddress, peerAddress: m.peerAddress })),
    shardCount: placement.length,
    pointsPerShard,
    placement: placement.map((replicas) => [...replicas]),
    metaVoters: initialMetaVoters(members.map((m) => m.id)),
  };
}

export function encodeMetaState(state: MetaState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(state));
}

/**
 * The document `bytes` hold, or undefined when they hold none this version writes (the
 * meta group's store takes only what encodeMetaState wrote, but a reader never trusts
 * bytes it did not check).
 */
export function decodeMetaState(bytes: Uint8Array): MetaState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  const state = withBootstrapVoters(value);
  return isMetaState(state) ? state : undefined;
}

/**
 * A document written before it recorded each group's bootstrap voters: no replica could
 * move then, so they are its placement, and the meta group's are its first members'.
 */
function withBootstrapVoters(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const s = value as Record<string, unknown>;
  if (s["bootstrapVoters"] !== undefined || s["metaBootstrapVoters"] !== undefined) return value;
  const nodes = Array.isArray(s["nodes"]) ? (s["nodes"] as unknown[]).filter(isMetaNode).map((n) => n.id) : [];
  return { ...s, bootstrapVoters: s["placement"], metaBootstrapVoters: initialMetaVoters(nodes) };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === "string" && NODE_ID_PATTERN.test(v);

function isMetaNode(v: unknown): v is MetaNode {
  if (typeof v !== "object" || v === null) return false;
  const n = v as Record<string, unknown>;
  return isId(n["id"]) && typeof n["clientAddress"] === "string" && typeof n["peerAddress"] === "string" && typeof n["leaving"] === "boolean";
}

function isMetaState(v: unknown): v is MetaState {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  const { epoch, shardCount, pointsPerShard, nodes, removed, placement, bootstrapVoters, metaBootstrapVoters } = s;
  if (!isCount(epoch) || !isCount(shardCount) || !isCount(pointsPerShard)) return false;
  if (!Array.isArray(nodes) || !nodes.every(isMetaNode)) return false;
  if (!Array.isArray(removed) || !removed.every(isId)) return false;
  const isShards = (v: unknown) => Array.isArray(v) && v.length === shardCount && v.every((r) => Array.isArray(r) && r.every(isId));
  return isShards(placement) && isShards(bootstrapVoters) && Array.isArray(metaBootstrapVoters) && metaBootstrapVoters.every(isId);
}
