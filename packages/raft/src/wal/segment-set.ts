import { assert } from "../assert.js";
import type { LogIndex } from "../types.js";
import type { GroupId } from "./group-id.js";

/** What the log knows about one segment file. */
export interface SegmentInfo {
  readonly seq: number;
  /** Highest entry index each group wrote into this segment. */
  readonly lastIndexByGroup: Map<GroupId, LogIndex>;
}

/**
 * The live segments, oldest first; the last one is active (being appended to).
 *
 * Release rule: the oldest segment may be deleted once it is not the active
 * one and every group that wrote entries into it has a snapshot at or past
 * the last of them (a dropped group no longer counts). Hard states and
 * compaction points need no such care: each segment starts with a checkpoint
 * of every group's. Segments are released oldest first only, so a segment
 * holding a group's drop record outlives every segment holding that group's
 * entries (or a replay would bring the group back).
 */
export class SegmentSet {
  private readonly segments: SegmentInfo[] = [];

  get count(): number {
    return this.segments.length;
  }

  get active(): SegmentInfo {
    const active = this.segments[this.segments.length - 1];
    assert(active !== undefined, "the log has no segment");
    return active;
  }

  seqs(): number[] {
    return this.segments.map((segment) => segment.seq);
  }

  add(seq: number): void {
    assert(this.segments.length === 0 || seq === this.active.seq + 1, "segment numbers must be consecutive");
    this.segments.push({ seq, lastIndexByGroup: new Map() });
  }

  /** Drops the newest segment (recovery: its file held no complete record). */
  removeNewest(): void {
    assert(this.segments.length > 0, "no segment to remove");
    this.segments.pop();
  }

  noteEntries(group: GroupId, lastIndex: LogIndex): void {
    const byGroup = this.active.lastIndexByGroup;
    const known = byGroup.get(group);
    if (known === undefined || lastIndex > known) byGroup.set(group, lastIndex);
  }

  /** The group was dropped: its entries no longer keep any segment alive. */
  forgetGroup(group: GroupId): void {
    for (const segment of this.segments) segment.lastIndexByGroup.delete(group);
  }

  /** The oldest segments that may be deleted now, given each live group's snapshot index. */
  releasable(snapshotIndexOf: (group: GroupId) => LogIndex | undefined): SegmentInfo[] {
    const result: SegmentInfo[] = [];
    for (let i = 0; i < this.segments.length - 1; i++) {
      const segment = this.segments[i]!;
      if (!isCovered(segment, snapshotIndexOf)) break;
      result.push(segment);
    }
    return result;
  }

  removeOldest(seq: number): void {
    assert(this.segments.length > 1 && this.segments[0]!.seq === seq, "only the oldest non-active segment can be released");
    this.segments.shift();
  }
}

function isCovered(segment: SegmentInfo, snapshotIndexOf: (group: GroupId) => LogIndex | undefined): boolean {
  for (const [group, lastIndex] of segment.lastIndexByGroup) {
    const snapshotIndex = snapshotIndexOf(group);
    if (snapshotIndex !== undefined && snapshotIndex < lastIndex) return false;
  }
  return true;
}
