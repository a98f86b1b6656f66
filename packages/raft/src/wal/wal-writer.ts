import { assert } from "../assert.js";
import type { LoggedState, RecordEffect } from "./logged-state.js";
import { encodeBootstrapRecord, encodeCheckpointRecord } from "./record-encoder.js";
import type { SegmentSet } from "./segment-set.js";
import { segmentName } from "./segment-name.js";
import { WalClosedError, WalFailedError, WalLimitError } from "./wal-errors.js";
import type { WalFile } from "./wal-fs.js";
import { joinPath } from "./wal-fs.js";
import type { ResolvedWalOptions } from "./wal-options.js";

/** An encoded record and what it does, so the writer can track checkpoints and segment release. */
export interface PendingRecord {
  readonly bytes: Uint8Array;
  readonly effect: RecordEffect;
}

/** Counters of the log's I/O since it was opened. */
export interface WalStats {
  /** fdatasync calls on segments plus fsync calls on the directory. */
  fsyncs: number;
  bytesWritten: number;
  /** Segment files alive now. */
  segments: number;
  /** Flushes: each writes once per segment it touches and syncs at most once (plus once per roll). */
  batches: number;
  /** Calls that queued records (append, compact, dropGroup). */
  appends: number;
  segmentsDeleted: number;
}

interface QueuedAppend {
  readonly records: readonly PendingRecord[];
  readonly bytes: number;
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface ActiveSegment {
  readonly seq: number;
  readonly file: WalFile;
  /** Bytes of the segment's head: its checkpoint and the bootstrap records after it. */
  readonly checkpointBytes: number;
  /** Bytes written plus bytes queued for the next write. */
  sizeBytes: number;
  queued: Uint8Array[];
  queuedBytes: number;
  unsynced: boolean;
}

/**
 * Group commit: records of every call that arrives while a flush is running
 * are written together by the next flush, with one write per segment touched
 * and at most one fdatasync, however many calls and groups they came from.
 * Calls resolve in order, each after its records are written and, if it (or
 * any call in the same flush) asked for it, synced.
 */
export class WalWriter {
  private queue: QueuedAppend[] = [];
  private queueBytes = 0;
  private running: Promise<void> | undefined;
  private failure: WalFailedError | undefined;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly options: ResolvedWalOptions,
    private readonly segments: SegmentSet,
    private readonly logged: LoggedState,
    readonly stats: WalStats,
    private active: ActiveSegment,
  ) {}

  /** Opens segment `seq` (after every recovered one) and queues its checkpoint. */
  static async start(dir: string, options: ResolvedWalOptions, segments: SegmentSet, logged: LoggedState, seq: number): Promise<WalWriter> {
    const stats: WalStats = { fsyncs: 0, bytesWritten: 0, segments: segments.count, batches: 0, appends: 0, segmentsDeleted: 0 };
    const active = await openSegment(dir, options, segments, logged, stats, seq);
    const writer = new WalWriter(dir, options, segments, logged, stats, active);
    await writer.writeQueued();
    return writer;
  }

  /** Throws if no more work is accepted: after `close`, after an I/O failure, or when `bytes` more would exceed pendingBytesMax. */
  checkAccepting(bytes: number): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new WalClosedError("the write-ahead log is closed");
    // An empty queue always accepts, so a single large append can make progress.
    if (this.queueBytes > 0 && this.queueBytes + bytes > this.options.pendingBytesMax) {
      throw new WalLimitError(
        `${this.queueBytes + bytes} B would be queued for writing, above pendingBytesMax ${this.options.pendingBytesMax} B: wait for earlier appends`,
      );
    }
  }

  submit(records: readonly PendingRecord[], sync: boolean): Promise<void> {
    this.checkAccepting(0);
    let bytes = 0;
    for (const record of records) bytes += record.bytes.byteLength;
    this.stats.appends += 1;
    const done = new Promise<void>((resolve, reject) => this.queue.push({ records, bytes, sync, resolve, reject }));
    this.queueBytes += bytes;
    this.running ??= this.run();
    return done;
  }

  /**
   * Releases what recovery found releasable. The active segment is synced
   * first: its checkpoint must be durable before older segments go.
   */
  async releaseRecovered(): Promise<void> {
    assert(this.running === undefined, "release at open runs before any append");
    if (this.segments.releasable((group) => this.logged.snapshotIndex(group)).length === 0) return;
    await this.writeQueued();
    if (this.active.unsynced) await this.datasync(this.active);
    await this.releaseSegments();
  }

  /** Waits for queued work, syncs what is unsynced and closes the active segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.running;
    if (this.failure !== undefined) {
      // Best effort: the log is unusable anyway, but the descriptor should not leak.
      await this.active.file.close().catch(() => undefined);
      return;
    }
    if (this.active.unsynced) await this.datasync(this.active);
    await this.active.file.close();
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.flush(batch);
      } catch (error) {
        this.fail(error, batch);
        break;
      }
      for (const append of batch) {
        this.queueBytes -= append.bytes;
        append.resolve();
      }
      // Callers woken just now often append again within the same turn of the event loop;
      // waiting for that turn to end lets their calls share the next flush with whatever
      // queued during this one, instead of alternating between a lone call and the rest.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.running = undefined;
  }

  private fail(error: unknown, batch: readonly QueuedAppend[]): void {
    this.failure = new WalFailedError(`write-ahead log I/O failed; restart and recover: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
    for (const append of [...batch, ...this.queue]) append.reject(this.failure);
    this.queue = [];
    this.queueBytes = 0;
  }

  private async flush(batch: readonly QueuedAppend[]): Promise<void> {
    let totalBytes = 0;
    let sync = false;
    for (const append of batch) {
      totalBytes += append.bytes;
      sync ||= append.sync;
    }
    // Keep a flush within one segment when it fits, so a crash never persists half of it.
    if (this.mustRollBefore(totalBytes)) await this.roll();
    for (const append of batch) {
      for (const record of append.records) {
        if (this.mustRollBefore(record.bytes.byteLength)) await this.roll();
        this.active.queued.push(record.bytes);
        this.active.queuedBytes += record.bytes.byteLength;
        this.active.sizeBytes += record.bytes.byteLength;
        this.noteRecord(record.effect);
      }
    }
    await this.writeQueued();
    if (sync && this.active.unsynced) await this.datasync(this.active);
    this.stats.batches += 1;
    if (sync) await this.releaseSegments();
  }

  /** A segment that holds records besides its checkpoint is rolled before it would grow past segmentBytesMax. */
  private mustRollBefore(bytes: number): boolean {
    const active = this.active;
    return active.sizeBytes > active.checkpointBytes && active.sizeBytes + bytes > this.options.segmentBytesMax;
  }

  private noteRecord(effect: RecordEffect): void {
    this.logged.apply(effect);
    if (effect.type === "entries") this.segments.noteEntries(effect.group, effect.lastIndex);
    if (effect.type === "dropGroup") this.segments.forgetGroup(effect.group);
  }

  /**
   * Closes the active segment and starts the next. The old one is synced first:
   * recovery accepts a torn tail only in the last segment, so no byte may reach
   * a newer segment while an older one could still lose its tail.
   */
  private async roll(): Promise<void> {
    const old = this.active;
    await this.writeQueued();
    if (old.unsynced) await this.datasync(old);
    await old.file.close();
    this.active = await openSegment(this.dir, this.options, this.segments, this.logged, this.stats, old.seq + 1);
  }

  private async writeQueued(): Promise<void> {
    const active = this.active;
    if (active.queuedBytes === 0) return;
    const data = active.queued.length === 1 ? active.queued[0]! : Buffer.concat(active.queued, active.queuedBytes);
    const bytes = active.queuedBytes;
    active.queued = [];
    active.queuedBytes = 0;
    active.unsynced = true;
    await active.file.append(data);
    this.stats.bytesWritten += bytes;
  }

  private async datasync(segment: ActiveSegment): Promise<void> {
    await segment.file.datasync();
    segment.unsynced = false;
    this.stats.fsyncs += 1;
  }

  /** Runs only after a sync, when every record written so far (the compaction points it relies on) is durable. */
  private async releaseSegments(): Promise<void> {
    const releasable = this.segments.releasable((group) => this.logged.snapshotIndex(group));
    for (const segment of releasable) {
      assert(segment.seq !== this.active.seq, "the active segment is never released");
      await this.options.fs.remove(joinPath(this.dir, segmentName(segment.seq)));
      this.segments.removeOldest(segment.seq);
      this.stats.segmentsDeleted += 1;
      this.stats.segments = this.segments.count;
    }
  }
}

/**
 * Creates segment `seq`, makes its directory entry durable (a synced record in
 * a file the directory forgot would be lost), and queues its checkpoint.
 */
async function openSegment(
  dir: string,
  options: ResolvedWalOptions,
  segments: SegmentSet,
  logged: LoggedState,
  stats: WalStats,
  seq: number,
): Promise<ActiveSegment> {
  const file = await options.fs.openAppend(joinPath(dir, segmentName(seq)));
  await options.fs.syncDir(dir);
  stats.fsyncs += 1;
  segments.add(seq);
  stats.segments = segments.count;
  // The checkpoint, then each group's bootstrap membership: the head of the segment.
  const head = [
    encodeCheckpointRecord(seq, logged.checkpoint()),
    ...logged.bootstraps().map(({ group, confState }) => encodeBootstrapRecord(group, confState)),
  ];
  let headBytes = 0;
  for (const record of head) headBytes += record.byteLength;
  return { seq, file, checkpointBytes: headBytes, sizeBytes: headBytes, queued: head, queuedBytes: headBytes, unsynced: false };
}
