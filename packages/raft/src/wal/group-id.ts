import { assert } from "../assert.js";

/** A Raft group hosted on this node (a shard group, or the meta group). */
export type GroupId = number;

/** Group ids are unsigned 32-bit integers: a varint of at most 5 bytes on disk. */
export const GROUP_ID_MAX = 0xffff_ffff;

export function assertGroupId(group: GroupId): void {
  assert(Number.isInteger(group) && group >= 0 && group <= GROUP_ID_MAX, `group id must be an integer in [0, ${GROUP_ID_MAX}], got ${group}`);
}
