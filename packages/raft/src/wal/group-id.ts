import { assert } from "../assert.js";

/** The id of a Raft group whose log the node's write-ahead log holds. */
export type GroupId = number;

/** Group ids are unsigned 32-bit integers: a varint of at most 5 bytes on disk. */
export const GROUP_ID_MAX = 0xffff_ffff;

export function assertGroupId(group: GroupId): void {
  assert(Number.isInteger(group) && group >= 0 && group <= GROUP_ID_MAX, `group id must be an integer in [0, ${GROUP_ID_MAX}], got ${group}`);
}
