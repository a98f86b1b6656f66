import { asLogIndex, type NodeId, type PeerMessage, type SnapshotMessage, type SnapshotMetadata, type Storage } from "@distcache/raft";
import type { SnapshotFiles } from "@distcache/raft/snapshot";
import type { Logger } from "pino";
import { SnapshotFormatError, type ReplicaSnapshot, type RestoredShard, type ShardStateMachine } from "../state-machine/shard-state-machine.js";
import type { GroupLog } from "./group-log.js";
import type { ShardReplica } from "./shard-replica.js";
import { TurnGate } from "./turn-gate.js";
import { SEND_BACKLOG_BYTES, encodeSnapshotChunk, type ReceivedChunk } from "../peer/wire/snapshot-wire.js";

/** What the driver sends to other nodes through: the peer transport. */
export interface PeerSender {
  send(to: string, payload: Uint8Array): boolean;
  /** Bytes queued for `to` but not yet written to the network. */
  backlogBytes(to: string): number;
}

export interface ReplicaSnapshotsOptions {
  self: NodeId;
  files: SnapshotFiles;
  groupLog: GroupLog;
  transport: PeerSender;
  logger: Logger;
  /** A replica is snapshotted (and its log compacted) once it applied this many entries past its last snapshot... */
  entriesBetween: number;
  /** ...or this many entry bytes (entrySizeBytes), whichever comes first. */
  bytesBetween: number;
  replica(group: number): ShardReplica | undefined;
  /** Steps a held peer message into its group's node, with the driver's checks (it may have become invalid). */
  deliver(group: number, message: PeerMessage): void;
  /** Asks the driver for a cycle (a node has something new to hand out). */
  schedule(): void;
  /** The node's log failed: it can no longer run safely. */
  onFatal(err: unknown): void;
}

/** A transfer stops waiting for the peer's queue to drain after this long. */
const SEND_STALL_MS = 10_000;
/** Keys captured per turn of the event loop when taking a snapshot (about 10 ms). */
const CAPTURE_KEYS_PER_STEP = 20_000;
/** Messages held per group while a received snapshot is staged. */
const HELD_MESSAGES_MAX = 10_000;
/**
 * A group whose log has not moved toward compaction while the node applied this many
 * times bytesBetween (across all its groups) is snapshotted or compacted anyway: the log
 * is shared, and its oldest entries would keep every segment written since.
 */
const STALE_SHARES = 4;

interface Incoming {
  message: SnapshotMessage;
  chunks: Uint8Array[];
  /** performance.now() of its latest chunk. */
  lastChunkAt: number;
}

/** A transfer that received no chunk for this long is dropped (its leader died or moved on); the leader sends again. */
const INCOMING_IDLE_MS = 30_000;

const fileId = (group: number, m: { index: number; term: number }) => ({ group, index: m.index, term: m.term });

/**
 * Snapshots of this node's shard replicas (thesis §5): taking them and compacting the
 * log behind them, streaming them in chunks to followers the leader can no longer
 * catch up from its log, and installing the ones a leader streams here. Every step is
 * short (one chunk encoded, decoded or written per turn of the event loop), so neither
 * side stalls the node. File writes and pruning run one at a time.
 */
export class ReplicaSnapshots {
  private fileQueue: Promise<void> = Promise.resolve();
  private readonly producing = new Set<number>();
  /** Snapshot work started and not finished (captures, saves, staging), awaited when the node stops. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing = false;
  /** Per group: the newest snapshot on disk (taken or installed); the log is compacted to the one before it. */
  private readonly newest = new Map<number, { index: number; term: number }>();
  private readonly incoming = new Map<string, Incoming>();
  /** Per group: state decoded from a received snapshot, waiting for the Ready that installs it. */
  private readonly staged = new Map<number, { index: number; term: number; state: RestoredShard }>();
  /**
   * Per group being staged: peer messages held until the snapshot is handed to the node.
   * The leader follows a transfer with appends that only fit after it; delivering them
   * earlier would make it send the whole snapshot again.
   */
  private readonly held = new Map<number, PeerMessage[]>();
  /** Background steps of all snapshots (and digests) on this node take turns of the event loop one at a time. */
  readonly gate = new TurnGate();
  /** Per group: entry bytes applied since its last snapshot was captured (or installed). */
  private readonly appliedBytes = new Map<number, number>();
  /** Entry bytes this node applied, across its groups, since it started. */
  private nodeBytes = 0;
  /** Per group: nodeBytes when its log last moved toward compaction (a capture, a compaction, an install). */
  private readonly movedAt = new Map<number, number>();
  /**
   * Per group: the snapshot index the durable log is compacted to. The in-memory log's
   * floor moves first (a received snapshot is appended, a compaction recorded) and the
   * record becomes durable later; the file a restart would need is the durable floor's,
   * so pruning keeps it.
   */
  private readonly durableFloor = new Map<number, number>();
  readonly stats = { taken: 0, sent: 0, sendFailures: 0, received: 0, installed: 0, rejected: 0, staleCompactions: 0, bytesSent: 0 };

  constructor(private readonly options: ReplicaSnapshotsOptions) {}

  /**
   * Restores a replica before its node starts: from the newest snapshot file that its
   * log still covers (committed, same term), else from the one the log was compacted to.
   */
  async restore(group: number, machine: ShardStateMachine, storage: Storage): Promise<void> {
    const floor = storage.snapshot();
    this.durableFloor.set(group, floor.index);
    const commit = Math.min(storage.initialState().hardState.commit, storage.lastIndex());
    const candidates = (await this.options.files.list(group)).filter(
      (f) => f.index > floor.index && f.index <= commit && storage.term(asLogIndex(f.index)) === f.term,
    );
    for (const file of candidates) {
      try {
        await this.restoreFrom(group, machine, file);
        return;
      } catch (err) {
        // A format this build does not read is not damage: stop and say so.
        if (err instanceof SnapshotFormatError) throw err;
        this.options.logger.warn({ shard: group, index: file.index, err: (err as Error).message }, "skipping an unreadable snapshot file");
      }
    }
    if (floor.index > 0) await this.restoreFrom(group, machine, floor);
  }

  private async restoreFrom(group: number, machine: ShardStateMachine, snapshot: { index: number; term: number }): Promise<void> {
    machine.install(await this.decode(machine, await this.read(group, snapshot)));
    if (machine.appliedIndex !== snapshot.index) {
      throw new Error(`shard ${group}: the snapshot file for index ${snapshot.index} holds state at index ${machine.appliedIndex}`);
    }
    this.newest.set(group, { index: snapshot.index, term: snapshot.term });
  }

  /** A snapshot file's chunks, read whole (restore, install). */
  private async read(group: number, snapshot: { index: number; term: number }): Promise<Uint8Array[]> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.readChunks(group, snapshot)) chunks.push(chunk);
    return chunks;
  }

  /**
   * A snapshot file's chunks, read and verified one at a time (a transfer streams them);
   * a file that is missing or damaged fails naming the shard, the index and the directory.
   */
  private async *readChunks(group: number, snapshot: { index: number; term: number }): AsyncGenerator<Uint8Array> {
    try {
      yield* this.options.files.chunks(fileId(group, snapshot));
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "is missing" : `cannot be read: ${(err as Error).message}`;
      throw new Error(
        `shard ${group}: the log was compacted to a snapshot at index ${snapshot.index} (term ${snapshot.term}), ` +
          `whose file in ${this.options.files.dir} ${reason}`,
        { cause: err },
      );
    }
  }

  /** Decodes chunks one per turn of the event loop. */
  private async decode(machine: ShardStateMachine, chunks: readonly Uint8Array[]): Promise<RestoredShard> {
    const restorer = machine.restorer();
    for (const chunk of chunks) {
      restorer.push(chunk);
      await this.gate.turn();
    }
    return restorer.finish();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.fileQueue.then(work);
    this.fileQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Called right after the driver advanced a Ready of the replica that applied `bytes`
   * of entries (entrySizeBytes): takes a snapshot once entriesBetween entries or
   * bytesBetween bytes accumulated since the last one, whichever comes first.
   */
  maybeTake(replica: ShardReplica, bytes: number): void {
    const group = replica.group;
    this.nodeBytes += bytes;
    const applied = (this.appliedBytes.get(group) ?? 0) + bytes;
    this.appliedBytes.set(group, applied);
    if (this.closing || this.producing.has(group)) return;
    if (replica.machine.appliedIndex - this.lastSnapshotIndex(replica) < this.options.entriesBetween && applied < this.options.bytesBetween) return;
    this.take(replica);
  }

  /** The index of the replica's newest snapshot (taken, installed or restored), else its log's compaction point. */
  private lastSnapshotIndex(replica: ShardReplica): number {
    return this.newest.get(replica.group)?.index ?? replica.storage.snapshot().index;
  }

  /**
   * Called once a cycle applied its Readys (no replica is between a Ready and its
   * advance). The log is shared: a segment goes only once every group that wrote into
   * it compacted past its entries there, so a group that applies little (an idle shard
   * holding only its leader's first entry) would keep every segment written since. A
   * group whose log holds entries and has not moved toward compaction while the node
   * applied STALE_SHARES × bytesBetween bytes is snapshotted if it applied anything since
   * its newest snapshot, else its log is compacted to that snapshot.
   */
  sweepStale(replicas: Iterable<ShardReplica>): void {
    this.dropIdleTransfers();
    if (this.closing) return;
    for (const replica of replicas) {
      const group = replica.group;
      if (this.producing.has(group) || replica.drain.betweenReadyAndAdvance) continue;
      if (this.nodeBytes - (this.movedAt.get(group) ?? 0) < STALE_SHARES * this.options.bytesBetween) continue;
      this.movedAt.set(group, this.nodeBytes);
      if (replica.storage.lastIndex() <= replica.storage.snapshot().index) continue;
      if (replica.machine.appliedIndex > this.lastSnapshotIndex(replica)) this.take(replica);
      else this.compactToNewest(replica);
    }
  }

  /** The group applied nothing since its newest snapshot: its log is compacted to it (its entries are all in that file). */
  private compactToNewest(replica: ShardReplica): void {
    const group = replica.group;
    const newest = this.newest.get(group);
    if (!newest || newest.index <= replica.storage.snapshot().index) return;
    const point = this.compactionPoint(replica, newest);
    if (!point) return;
    this.producing.add(group);
    const work = this.enqueue(async () => {
      try {
        await this.options.groupLog.compact(group, point);
      } catch (err) {
        this.options.onFatal(err);
        return;
      }
      this.raiseDurableFloor(group, point.index);
      this.stats.staleCompactions++;
      await this.prune(group);
      this.options.logger.info({ shard: group, index: point.index }, "log of a quiet shard compacted to its newest snapshot");
    });
    this.track(work.finally(() => this.producing.delete(group)));
  }

  private take(replica: ShardReplica): void {
    const group = replica.group;
    this.producing.add(group);
    const started = performance.now();
    this.track(
      this.capture(replica)
        .then((captured) => this.save(replica, captured, started))
        .catch((err: Error) =>
          this.closing
            ? this.options.logger.info({ shard: group, err: err.message }, "snapshot capture abandoned: the node is stopping")
            : this.options.logger.error({ shard: group, err: err.message }, "capturing a snapshot failed"),
        )
        .finally(() => this.producing.delete(group)),
    );
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /**
   * Captures the replica's state at its applied index, CAPTURE_KEYS_PER_STEP keys per
   * turn of the event loop, holding the group's Readys back meanwhile so nothing is
   * applied to it (its node keeps taking messages and proposals).
   */
  private async capture(replica: ShardReplica): Promise<{ snapshot: ReplicaSnapshot; meta: SnapshotMetadata }> {
    // Hold the group's Readys from the moment the snapshot is due (the driver calls in
    // right after an advance): were the driver to take the group's next Ready meanwhile,
    // under sustained load it would always be between a Ready and its advance when the
    // capture's turn comes, and the capture would never start. The hold resolves once no
    // Ready of the group taken earlier is in flight; the capture then starts on a turn.
    const release = await replica.drain.hold();
    // Fails once the node stops, rather than waiting on for a cycle that will not come.
    const turn = async () => {
      await this.gate.turn(true);
      if (this.closing) throw new Error("node is shutting down");
    };
    try {
      await turn();
      this.appliedBytes.set(replica.group, 0);
      this.movedAt.set(replica.group, this.nodeBytes);
      const capture = replica.machine.snapshotCapture();
      const meta = replica.node.snapshotMetadata(asLogIndex(replica.machine.appliedIndex));
      while (!capture.step(CAPTURE_KEYS_PER_STEP)) await turn();
      return { snapshot: capture.snapshot(), meta };
    } finally {
      release();
      this.options.schedule();
    }
  }

  /**
   * Compacts the log to the snapshot before this one, not to this one, then writes this
   * one: the log keeps the entries between the two, so a follower a little behind
   * catches up from the log rather than by a whole snapshot (and a restart restores the
   * newest snapshot, then replays only what follows it). The earlier snapshot's file is
   * durable already (a group's snapshots are saved one after another), so compacting
   * first is safe, and it keeps the group's log at about two snapshots' worth of entries,
   * plus what was committed while the capture ran (taken and persisted, applied after).
   */
  private save(replica: ShardReplica, { snapshot: captured, meta }: { snapshot: ReplicaSnapshot; meta: SnapshotMetadata }, started: number): Promise<void> {
    const group = replica.group;
    return this.enqueue(async () => {
      const previous = this.newest.get(group);
      const compactTo = previous && previous.index > replica.storage.snapshot().index ? this.compactionPoint(replica, previous) : undefined;
      if (compactTo) {
        try {
          await this.options.groupLog.compact(group, compactTo);
        } catch (err) {
          this.options.onFatal(err);
          return;
        }
        this.raiseDurableFloor(group, compactTo.index);
      }
      try {
        await this.options.files.write(fileId(group, meta), this.withTurns(captured.chunks()));
      } catch (err) {
        this.options.logger.error(
          { shard: group, index: meta.index, err: (err as Error).message },
          "writing a snapshot failed; the log after the previous one is kept",
        );
        return;
      }
      if ((this.newest.get(group)?.index ?? 0) < meta.index) this.newest.set(group, { index: meta.index, term: meta.term });
      await this.prune(group);
      this.stats.taken++;
      this.options.logger.info({ shard: group, index: meta.index, ms: Math.round(performance.now() - started) }, "snapshot taken, log compacted");
    });
  }

  /** What the log records for a compaction to an earlier snapshot, if the node's log still holds that point unchanged. */
  private compactionPoint(replica: ShardReplica, snapshot: { index: number; term: number }): SnapshotMetadata | undefined {
    try {
      const meta = replica.node.snapshotMetadata(asLogIndex(snapshot.index));
      return meta.term === snapshot.term ? meta : undefined;
    } catch {
      // A snapshot from the leader replaced the log meanwhile.
      return undefined;
    }
  }

  private raiseDurableFloor(group: number, index: number): void {
    this.durableFloor.set(group, Math.max(this.durableFloor.get(group) ?? 0, index));
  }

  /** The durable floor of a group's log (for tests and checks). */
  durableFloorOf(group: number): number {
    return this.durableFloor.get(group) ?? 0;
  }

  /**
   * Deletes snapshot files older than the one the durable log is compacted to (and stray
   * temporaries); never the durable floor's own file, which a restart reads.
   */
  private async prune(group: number): Promise<void> {
    const current = this.durableFloor.get(group) ?? 0;
    const files = this.options.files;
    const keep = (await files.list(group)).filter((m) => m.index >= current).length;
    await files
      .prune(group, Math.max(1, keep))
      .catch((err: Error) => this.options.logger.warn({ shard: group, err: err.message }, "pruning old snapshots failed"));
  }

  /** Leader: streams the snapshot a SnapshotMessage names to its follower, then reports the outcome. */
  send(group: number, message: SnapshotMessage): void {
    if (this.closing) return;
    this.track(
      this.stream(group, message).then((ok) => {
        if (ok) this.stats.sent++;
        else this.stats.sendFailures++;
        this.options.replica(group)?.node.reportSnapshot(message.to, ok);
        this.options.schedule();
      }),
    );
  }

  private async stream(group: number, message: SnapshotMessage): Promise<boolean> {
    const { transport, logger } = this.options;
    try {
      // Read a chunk ahead, so the last one is known as such when it is sent; only the
      // chunk being sent and the one after it are in memory, never the whole file.
      const file = this.readChunks(group, message.snapshot);
      let next = await file.next();
      let seq = 0;
      while (!next.done) {
        const chunk = next.value;
        next = await file.next();
        const deadline = Date.now() + SEND_STALL_MS;
        while (transport.backlogBytes(message.to) > SEND_BACKLOG_BYTES) {
          if (Date.now() > deadline) throw new Error(`peer ${message.to} accepted nothing for ${SEND_STALL_MS} ms`);
          await new Promise((r) => setTimeout(r, 5));
        }
        const frame = encodeSnapshotChunk(group, message, seq, next.done === true, chunk);
        if (!transport.send(message.to, frame)) throw new Error(`peer ${message.to} dropped chunk ${seq}`);
        this.stats.bytesSent += frame.length;
        seq++;
        await this.gate.turn();
      }
      logger.info({ shard: group, to: message.to, index: message.snapshot.index, chunks: seq }, "snapshot sent");
      return seq > 0;
    } catch (err) {
      logger.warn(
        { shard: group, to: message.to, index: message.snapshot.index, err: (err as Error).message },
        "snapshot transfer failed; the leader will retry",
      );
      return false;
    }
  }

  /** Follower: one snapshot chunk from peer `from`, already checked by the driver. */
  accept(from: NodeId, chunk: ReceivedChunk): void {
    if (!this.options.replica(chunk.group)) return;
    const key = `${from}/${chunk.group}`;
    const now = performance.now();
    this.dropIdleTransfers(now);
    if (chunk.seq === 0) this.incoming.set(key, { message: chunk.message, chunks: [], lastChunkAt: now });
    const transfer = this.incoming.get(key);
    // A gap (a lost connection) or a chunk of another transfer: drop it; the leader sends again.
    if (!transfer || transfer.chunks.length !== chunk.seq || !sameSnapshot(transfer.message, chunk.message)) {
      this.incoming.delete(key);
      return;
    }
    transfer.chunks.push(chunk.data);
    transfer.lastChunkAt = now;
    if (!chunk.last) return;
    this.incoming.delete(key);
    this.stats.received++;
    if (this.held.has(chunk.group)) return; // one at a time; the leader resends if this one was newer
    this.held.set(chunk.group, []);
    this.track(this.stage(chunk.group, transfer).finally(() => this.release(chunk.group)));
  }

  /** Drops partial transfers that stopped arriving, with the chunks they hold. */
  dropIdleTransfers(now = performance.now()): void {
    for (const [key, transfer] of this.incoming) {
      if (now - transfer.lastChunkAt > INCOMING_IDLE_MS) this.incoming.delete(key);
    }
  }

  /** Partial snapshot transfers being received, and decoded snapshots waiting for the node (for checks). */
  get pendingTransfers(): { incoming: number; staged: number } {
    return { incoming: this.incoming.size, staged: this.staged.size };
  }

  /** True (and the message kept for later) while a snapshot for its group is being staged. */
  hold(group: number, message: PeerMessage): boolean {
    const held = this.held.get(group);
    if (!held) return false;
    // Beyond this, dropping is safe: to Raft it is a lost message.
    if (held.length < HELD_MESSAGES_MAX) held.push(message);
    return true;
  }

  private release(group: number): void {
    const held = this.held.get(group) ?? [];
    this.held.delete(group);
    for (const message of held) this.options.deliver(group, message);
    this.options.schedule();
  }

  /** Decodes and saves a received snapshot, then hands it to the group's node. */
  private async stage(group: number, { message, chunks }: Incoming): Promise<void> {
    const { logger } = this.options;
    try {
      const replica = this.options.replica(group);
      if (!replica || this.closing) return;
      if (message.snapshot.index > replica.machine.appliedIndex) {
        const state = await this.decode(replica.machine, chunks);
        if (state.index !== message.snapshot.index) throw new Error(`the data is at index ${state.index}, the transfer names ${message.snapshot.index}`);
        await this.enqueue(() => this.options.files.write(fileId(group, message.snapshot), chunks));
        this.staged.set(group, { index: state.index, term: message.snapshot.term, state });
      }
      // The core decides: it installs a newer snapshot, and answers a stale one with its log position.
      replica.node.step(message);
      // Refused: the decoded state (a whole store) is not kept until some later install.
      if (!replica.node.hasPendingSnapshot()) this.staged.delete(group);
      this.options.schedule();
    } catch (err) {
      this.stats.rejected++;
      logger.warn({ shard: group, from: message.from, index: message.snapshot.index, err: (err as Error).message }, "dropping a received snapshot");
    }
  }

  /** The state to install for a Ready's snapshot: staged when it arrived, else read back from its file. */
  async installable(replica: ShardReplica, snapshot: SnapshotMetadata): Promise<RestoredShard> {
    const group = replica.group;
    const staged = this.staged.get(group);
    this.staged.delete(group);
    this.stats.installed++;
    if (staged && staged.index === snapshot.index && staged.term === snapshot.term) return staged.state;
    return this.decode(replica.machine, await this.read(group, snapshot));
  }

  /** After a received snapshot was persisted (durably: its Ready was synced): older files can go. */
  installed(group: number, snapshot: SnapshotMetadata): void {
    this.raiseDurableFloor(group, snapshot.index);
    this.newest.set(group, { index: snapshot.index, term: snapshot.term });
    this.appliedBytes.set(group, 0);
    this.movedAt.set(group, this.nodeBytes);
    void this.enqueue(() => this.prune(group));
  }

  /** Yields a synchronous generator's chunks a turn apart, so encoding one is the longest step. */
  private async *withTurns(chunks: Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for (const chunk of chunks) {
      yield chunk;
      await this.gate.turn();
    }
  }

  /** Waits for the snapshot work in progress now and the file work queued behind it (a removed replica's, say). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.fileQueue;
  }

  /** A group whose replica left this node: forgets what was kept of it (newest snapshot, floors, staged state, held messages, transfers). */
  forget(group: number): void {
    for (const map of [this.newest, this.staged, this.held, this.appliedBytes, this.movedAt, this.durableFloor]) map.delete(group);
    this.producing.delete(group);
    for (const key of [...this.incoming.keys()]) if (key.endsWith(`/${group}`)) this.incoming.delete(key);
  }

  /** The node is stopping: starts no new snapshot work and waits for what is in progress (before the log closes). */
  async drain(): Promise<void> {
    this.closing = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.fileQueue;
  }
}

function sameSnapshot(a: SnapshotMessage, b: SnapshotMessage): boolean {
  return a.term === b.term && a.snapshot.index === b.snapshot.index && a.snapshot.term === b.snapshot.term;
}
