import type { Entry } from "../entry.js";
import { isConfStateEqual } from "../conf-state.js";
import { isHardStateEqual } from "../hard-state.js";
import type { GroupId } from "./group-id.js";
import { SegmentSet } from "./segment-set.js";
import { parseSegmentName, segmentName } from "./segment-name.js";
import { scanSegment } from "./segment-scanner.js";
import { WalCorruptionError, WalLimitError } from "./wal-errors.js";
import type { WalFs } from "./wal-fs.js";
import { joinPath } from "./wal-fs.js";
import type { WalGroupLog } from "./wal-group-log.js";
import { ReplayGroup } from "./replay-group.js";
import type { GroupCheckpoint, WalRecord } from "./wal-record.js";

export interface RecoveredWal {
  readonly groups: Map<GroupId, WalGroupLog>;
  readonly segments: SegmentSet;
  /** Number for the next segment to create. */
  readonly nextSeq: number;
}

/**
 * Rebuilds every group from the segments in `dir`, oldest first. A torn tail
 * of the last segment is cut off (durably) before anything new is written, so
 * it can never end up in the middle of the log; the last segment is synced,
 * since a crashed process may have left its tail only in the page cache.
 */
export async function recoverWal(fs: WalFs, dir: string, groupsMax: number): Promise<RecoveredWal> {
  const seqs = (await fs.list(dir))
    .map(parseSegmentName)
    .filter((seq): seq is number => seq !== undefined)
    .sort((a, b) => a - b);
  const replay = new Replay();
  for (let i = 0; i < seqs.length; i++) {
    const seq = seqs[i]!;
    const path = joinPath(dir, segmentName(seq));
    if (i > 0 && seq !== seqs[i - 1]! + 1)
      throw new WalCorruptionError(path, 0, `segment ${segmentName(seqs[i - 1]! + 1)} is missing: live segments are always consecutive`);
    const isLast = i === seqs.length - 1;
    replay.startSegment(seq, path);
    const scan = scanSegment(path, await fs.readFile(path), isLast, (record, offset) => replay.apply(record, offset));
    if (!isLast) continue;
    if (scan.validBytes === 0) {
      // Not even the checkpoint made it: the segment was being created when the node stopped.
      await fs.remove(path);
      replay.segments.removeNewest();
    } else if (scan.torn) {
      await fs.truncate(path, scan.validBytes);
    } else {
      const file = await fs.openAppend(path);
      await file.datasync();
      await file.close();
    }
  }
  const groups = replay.finish();
  if (groups.size > groupsMax) throw new WalLimitError(`the log holds ${groups.size} groups, above groupsMax ${groupsMax}`);
  const lastSeq = replay.segments.count > 0 ? replay.segments.active.seq : 0;
  return { groups, segments: replay.segments, nextSeq: lastSeq + 1 };
}

/** Applies records in log order; any impossible sequence is corruption at that record. */
class Replay {
  readonly groups = new Map<GroupId, ReplayGroup>();
  readonly segments = new SegmentSet();
  private seq = 0;
  private path = "";
  private segmentsSeen = 0;

  startSegment(seq: number, path: string): void {
    this.seq = seq;
    this.path = path;
    this.segmentsSeen += 1;
    this.segments.add(seq);
  }

  apply(record: WalRecord, offset: number): void {
    if ((offset === 0) !== (record.type === "checkpoint")) {
      throw this.corruption(
        offset,
        offset === 0 ? `segment starts with a ${record.type} record, not a checkpoint` : "checkpoint record in the middle of a segment",
      );
    }
    switch (record.type) {
      case "checkpoint":
        return this.applyCheckpoint(record.segmentSeq, record.groups, offset);
      case "entries":
        return this.applyEntries(record.group, record.entries, offset);
      case "hardState":
        this.group(record.group).hardState = record.hardState;
        return;
      case "compact":
        return this.group(record.group).compact(record.index, record.term, record.keptSuffix, record.confState);
      case "bootstrap":
        return this.group(record.group).setBootstrap(record.confState);
      case "dropGroup":
        this.groups.delete(record.group);
        this.segments.forgetGroup(record.group);
        return;
    }
  }

  /** The rebuilt groups; throws if one still misses entries that no compaction covered. */
  finish(): Map<GroupId, WalGroupLog> {
    const logs = new Map<GroupId, WalGroupLog>();
    for (const [group, replayed] of this.groups) {
      const hole = replayed.unclosedHole();
      if (hole !== undefined)
        throw new WalCorruptionError(hole.segment, hole.offset, `entries of group ${group} before this record are missing and no snapshot covers them`);
      logs.set(group, replayed.toLog());
    }
    return logs;
  }

  private applyEntries(group: GroupId, entries: readonly Entry[], offset: number): void {
    const replayed = this.group(group);
    if (!replayed.append(entries, { segment: this.path, offset })) {
      throw this.corruption(offset, `entries of group ${group} start at index ${entries[0]!.index}, inside its snapshot (up to ${replayed.snapshotIndex})`);
    }
    this.segments.noteEntries(group, entries[entries.length - 1]!.index);
  }

  /**
   * The first segment read starts the state from its checkpoint (older segments
   * were released). Every later checkpoint must agree with what the records
   * before it built: a mismatch means a segment is missing or foreign.
   */
  private applyCheckpoint(segmentSeq: number, checkpoints: readonly GroupCheckpoint[], offset: number): void {
    if (segmentSeq !== this.seq) throw this.corruption(offset, `checkpoint names segment ${segmentSeq}, but the file is segment ${this.seq}`);
    if (this.segmentsSeen === 1) {
      for (const { group, hardState, snapshotIndex, snapshotTerm, confState } of checkpoints)
        this.group(group).reset(hardState, snapshotIndex, snapshotTerm, confState);
      return;
    }
    const mismatch = this.checkpointMismatch(checkpoints);
    if (mismatch !== undefined) throw this.corruption(offset, `checkpoint disagrees with the records before it (${mismatch}); a segment is missing or foreign`);
  }

  private checkpointMismatch(checkpoints: readonly GroupCheckpoint[]): string | undefined {
    if (checkpoints.length !== this.groups.size) return `${checkpoints.length} groups listed, ${this.groups.size} replayed`;
    for (const { group, hardState, snapshotIndex, snapshotTerm, confState } of checkpoints) {
      const replayed = this.groups.get(group);
      if (replayed === undefined) return `group ${group} is unknown`;
      if (!isHardStateEqual(replayed.hardState, hardState)) return `group ${group} hard state differs`;
      if (replayed.snapshotIndex !== snapshotIndex || replayed.snapshotTerm !== snapshotTerm) return `group ${group} snapshot differs`;
      if (!isConfStateEqual(replayed.confState, confState)) return `group ${group} membership differs`;
    }
    return undefined;
  }

  private group(group: GroupId): ReplayGroup {
    let replayed = this.groups.get(group);
    if (replayed === undefined) {
      replayed = new ReplayGroup(group);
      this.groups.set(group, replayed);
    }
    return replayed;
  }

  private corruption(offset: number, reason: string): WalCorruptionError {
    return new WalCorruptionError(this.path, offset, reason);
  }
}
