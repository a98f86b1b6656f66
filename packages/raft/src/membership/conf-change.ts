import type { ConfState } from "../conf-state.js";
import { MEMBERSHIP_BYTES_MAX, membershipBytes } from "../conf-state.js";
import type { NodeId } from "../types.js";
import { compareNodeIds } from "../types.js";

/**
 * One membership change, one server at a time (thesis §4.1, §4.2.1):
 * - addLearner: a new server receives the log but does not vote, so it can
 *   catch up without hurting availability;
 * - promoteLearner: a caught-up learner becomes a voter;
 * - addVoter: a new server votes at once (prefer addLearner, then promote);
 * - removeNode: a voter or a learner leaves (the leader too, thesis §4.2.2).
 * Each changes the voters by at most one server, so the majorities of the old
 * and the new configuration always overlap.
 */
export type ConfChangeKind = "addLearner" | "promoteLearner" | "addVoter" | "removeNode";

export interface ConfChange {
  readonly kind: ConfChangeKind;
  readonly node: NodeId;
}

/** Most learners a group holds; like VOTERS_MAX, it bounds message fan-out. */
export const LEARNERS_MAX = 9;

/** Byte values of the kinds in a config entry. Part of the log format: never reuse one. */
const KIND_BYTE: Readonly<Record<ConfChangeKind, number>> = { addLearner: 1, promoteLearner: 2, addVoter: 3, removeNode: 4 };
const KIND_OF_BYTE = new Map<number, ConfChangeKind>(Object.entries(KIND_BYTE).map(([kind, byte]) => [byte, kind as ConfChangeKind]));
/** Longest node id in a change, in UTF-8 bytes (as the WAL stores ids). */
const NODE_ID_BYTES_MAX = 255;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A config entry's payload: the kind byte, then the node id in UTF-8. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const id = encoder.encode(change.node);
  const bytes = new Uint8Array(1 + id.byteLength);
  bytes[0] = KIND_BYTE[change.kind];
  bytes.set(id, 1);
  return bytes;
}

/** The change a config entry carries, or a reason it is malformed. */
export function decodeConfChange(data: Uint8Array): ConfChange | string {
  const kind = KIND_OF_BYTE.get(data[0] ?? 0);
  if (kind === undefined) return `unknown membership change kind ${data[0] ?? "(empty)"}`;
  if (data.byteLength < 2 || data.byteLength > 1 + NODE_ID_BYTES_MAX) return `a membership change names a node id of ${data.byteLength - 1} B`;
  try {
    return { kind, node: decoder.decode(data.subarray(1)) as NodeId };
  } catch {
    return "a membership change's node id is not UTF-8";
  }
}

/**
 * Why `change` may not be applied to `conf`, or undefined if it may. The
 * leader checks this before appending a change; replicas apply whatever the
 * log holds with `applyConfChange`, which is total.
 */
export function validateConfChange(conf: ConfState, change: ConfChange, votersMax: number): string | undefined {
  const refused = validateKind(conf, change, votersMax);
  if (refused !== undefined) return refused;
  const bytes = membershipBytes(applyConfChange(conf, change));
  if (bytes > MEMBERSHIP_BYTES_MAX) return `the membership would take ${bytes} B encoded, above ${MEMBERSHIP_BYTES_MAX} B (fewer members, or shorter ids)`;
  return undefined;
}

function validateKind(conf: ConfState, change: ConfChange, votersMax: number): string | undefined {
  const { node } = change;
  if (typeof node !== "string" || node.length === 0 || encoder.encode(node).byteLength > NODE_ID_BYTES_MAX)
    return "the node id must be a non-empty string of at most 255 B";
  const isVoter = conf.voters.includes(node);
  const isLearner = conf.learners.includes(node);
  switch (change.kind) {
    case "addLearner":
      if (isVoter || isLearner) return `${node} is already a ${isVoter ? "voter" : "learner"}`;
      if (conf.learners.length >= LEARNERS_MAX) return `the group already has ${LEARNERS_MAX} learners`;
      return undefined;
    case "promoteLearner":
      if (!isLearner) return `${node} is not a learner`;
      if (conf.voters.length >= votersMax) return `the group already has ${votersMax} voters`;
      return undefined;
    case "addVoter":
      if (isVoter || isLearner) return `${node} is already a ${isVoter ? "voter" : "learner"}`;
      if (conf.voters.length >= votersMax) return `the group already has ${votersMax} voters`;
      return undefined;
    case "removeNode":
      if (!isVoter && !isLearner) return `${node} is not a member`;
      if (isVoter && conf.voters.length === 1) return "the last voter cannot be removed";
      return undefined;
    default:
      return `unknown membership change ${String((change as { kind: unknown }).kind)}`;
  }
}

/**
 * The configuration after `change`. Total and idempotent, so a replica never
 * fails on a logged change: adding or promoting makes the node a voter (or a
 * learner) whatever it was, removing takes it out of both lists.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const { node } = change;
  const voters = conf.voters.filter((id) => id !== node);
  const learners = conf.learners.filter((id) => id !== node);
  if (change.kind === "addLearner") learners.push(node);
  else if (change.kind === "promoteLearner" || change.kind === "addVoter") voters.push(node);
  return { voters: voters.sort(compareNodeIds), learners: learners.sort(compareNodeIds) };
}

export function describeConfChange(change: ConfChange): string {
  return `${change.kind} ${change.node}`;
}
