import { assert, fail } from "../assert.js";
import type { ConfState, SnapshotMetadata } from "../conf-state.js";
import { describeConfState, isConfStateEqual, normalizeConfState } from "../conf-state.js";
import type { Entry } from "../entry.js";
import type { HardState } from "../hard-state.js";
import type { LogIndex, NodeId, Term } from "../types.js";
import type { GroupId } from "./group-id.js";
import { assertGroupId } from "./group-id.js";
import { LoggedState } from "./logged-state.js";
import { encodeBootstrapRecord, encodeCompactRecord, encodeDropGroupRecord, encodeEntriesRecords, encodeHardStateRecord } from "./record-encoder.js";
import { WalLimitError } from "./wal-errors.js";
import { WalGroupLog } from "./wal-group-log.js";
import type { WalGroupStorage } from "./wal-group-storage.js";
import type { ResolvedWalOptions, WalOptions } from "./wal-options.js";
import { resolveWalOptions } from "./wal-options.js";
import { recoverWal } from "./wal-recovery.js";
import type { PendingRecord, WalStats } from "./wal-writer.js";
import { WalWriter } from "./wal-writer.js";

/** What one group persists in a batch: a Ready's `snapshot`, `entries` and `hardState`, in that order. */
export interface WalAppend {
  readonly group: GroupId;
  readonly hardState?: HardState | undefined;
  /** Appended after discarding the group's stored suffix from entries[0].index on. */
  readonly entries: readonly Entry[];
  /**
   * A snapshot received from the leader (`Ready.snapshot`): it replaces the
   * group's whole log before `entries` are appended. A batch holding one is
   * always synced.
   */
  readonly snapshot?: SnapshotMetadata | undefined;
}

/**
 * The node's write-ahead log, shared by all of its Raft groups (docs/design.md,
 * Shape): one append per host cycle carries every group's Ready, and costs
 * one write and at most one fdatasync however many groups it covers.
 *
 * Contract with the host (ready.ts): persist with `append(..., ready.mustSync)`
 * and send `messages` only after it resolves. Each call updates the groups'
 * in-memory views (`storage(group)`) at once, in call order, and resolves when
 * its records are written (and synced, if asked); calls may overlap and are
 * then written together. After an I/O error every call fails with
 * `WalFailedError`: restart and recover. Misuse (a gap in the log, a term
 * going backwards, overwriting a committed entry) is a `RaftAssertionError`.
 */
export class NodeWal {
  private constructor(
    readonly dir: string,
    private readonly options: ResolvedWalOptions,
    private readonly logs: Map<GroupId, WalGroupLog>,
    private readonly writer: WalWriter,
  ) {}

  /** Opens (creating if needed) the log in `dir` and recovers every group; see README.md for the rules. */
  static async open(dir: string, options?: WalOptions): Promise<NodeWal> {
    const resolved = resolveWalOptions(options);
    await resolved.fs.mkdirs(dir);
    const recovered = await recoverWal(resolved.fs, dir, resolved.groupsMax);
    const logged = LoggedState.from(
      [...recovered.groups.values()].map((log) => ({
        group: log.group,
        hardState: log.hardState(),
        snapshotIndex: log.snapshotIndex(),
        snapshotTerm: log.snapshotTerm(),
        confState: log.snapshot().confState,
        bootstrap: log.bootstrapConfState(),
      })),
    );
    const writer = await WalWriter.start(dir, resolved, recovered.segments, logged, recovered.nextSeq);
    await writer.releaseRecovered();
    return new NodeWal(dir, resolved, recovered.groups, writer);
  }

  get stats(): Readonly<WalStats> {
    return this.writer.stats;
  }

  /** Groups in the log, ascending: those recovered from disk plus those created since. */
  groups(): GroupId[] {
    return [...this.logs.keys()].sort((a, b) => a - b);
  }

  /** The group's storage for the Raft core; an empty one if the group is new (it reaches the disk with its first record). */
  storage(group: GroupId): WalGroupStorage {
    assertGroupId(group);
    return this.groupLog(group);
  }

  /**
   * Persists a batch across groups, at most one item per group. The whole batch
   * is checked before anything changes, so a rejected batch changes nothing.
   * With `sync`, when it resolves this and every earlier call are durable.
   */
  async append(batch: readonly WalAppend[], sync: boolean): Promise<void> {
    this.writer.checkAccepting(0);
    const records = this.encodeBatch(batch);
    let bytes = 0;
    for (const record of records) bytes += record.bytes.byteLength;
    this.writer.checkAccepting(bytes);
    let installs = false;
    for (const { group, hardState, entries, snapshot } of batch) {
      if (entries.length === 0 && hardState === undefined && snapshot === undefined) continue;
      const log = this.groupLog(group);
      if (snapshot !== undefined) {
        log.install(snapshot);
        installs = true;
      }
      if (entries.length > 0) log.append(entries);
      if (hardState !== undefined) log.setHardState(hardState);
    }
    // An empty synced append still goes through: it is a barrier that makes earlier unsynced appends durable.
    if (records.length === 0 && !sync) return;
    await this.writer.submit(records, sync || installs);
  }

  /**
   * Records that the group's state-machine snapshot covers everything up to
   * (index, term). Entries up to `index` leave memory now; segments whose
   * entries are all covered are deleted once the record is durable. `index`
   * may lie past the log (a snapshot received from the leader): the log then
   * restarts empty after it. Resolves when durable; an older snapshot point is
   * a no-op.
   *
   * `confState` is the membership at `index` (`RaftNode.snapshotMetadata`
   * gives it); left out, the membership recorded with the previous snapshot
   * point stays, which is right only while membership never changes.
   */
  async compact(group: GroupId, index: LogIndex, term: Term, confState?: ConfState): Promise<void> {
    this.writer.checkAccepting(0);
    assertGroupId(group);
    assert(Number.isSafeInteger(index) && index >= 0 && Number.isSafeInteger(term) && term >= 0, "snapshot index and term must be non-negative safe integers");
    const log = this.groupLog(group);
    const outcome = log.compactOutcome(index, term);
    if (outcome === "stale") return;
    log.assertSnapshotAgrees(index, term);
    const conf = confState ?? log.snapshot().confState;
    const bytes = encodeCompactRecord(group, index, term, outcome === "keepSuffix", conf);
    log.compact(index, term, conf);
    await this.writer.submit([{ bytes, effect: { type: "compact", group, index, term, confState: conf } }], true);
  }

  /**
   * Records the membership the group is bootstrapped with (the voters and
   * learners at index 0), once, before the group's node is first created.
   * From then on `storage(group).initialState().voters` returns the voters, so
   * the core refuses to start the group with other ones, and until the first
   * snapshot `snapshot().confState` is this membership; membership changes in
   * the log and later snapshot points extend it. Recording the same
   * membership again is a no-op; a different one is a `RaftAssertionError`.
   * Resolves when durable.
   */
  async bootstrap(group: GroupId, voters: readonly NodeId[], learners: readonly NodeId[] = []): Promise<void> {
    this.writer.checkAccepting(0);
    assertGroupId(group);
    const conf = normalizeConfState(voters, learners);
    if (typeof conf === "string") fail(`group ${group}: bootstrap membership is invalid: ${conf}`);
    assert(conf.voters.length > 0, `group ${group}: a bootstrap membership needs a voter`);
    const log = this.groupLog(group);
    const recorded = log.bootstrapConfState();
    if (recorded.voters.length > 0) {
      assert(isConfStateEqual(recorded, conf), `group ${group} was bootstrapped with ${describeConfState(recorded)}, not ${describeConfState(conf)}`);
      return;
    }
    const bytes = encodeBootstrapRecord(group, conf);
    log.setBootstrap(conf);
    await this.writer.submit([{ bytes, effect: { type: "bootstrap", group, confState: conf } }], true);
  }

  /** Removes the group (its replica moved away). Resolves when durable; unknown groups are a no-op. */
  async dropGroup(group: GroupId): Promise<void> {
    this.writer.checkAccepting(0);
    assertGroupId(group);
    const log = this.logs.get(group);
    if (log === undefined) return;
    log.markDropped();
    this.logs.delete(group);
    await this.writer.submit([{ bytes: encodeDropGroupRecord(group), effect: { type: "dropGroup", group } }], true);
  }

  /** Writes and syncs whatever is queued, then closes. Later calls fail with `WalClosedError`. */
  close(): Promise<void> {
    return this.writer.close();
  }

  /** Validates and encodes without changing anything. */
  private encodeBatch(batch: readonly WalAppend[]): PendingRecord[] {
    const seen = new Set<GroupId>();
    let newGroups = 0;
    const records: PendingRecord[] = [];
    for (const { group, hardState, entries, snapshot } of batch) {
      assertGroupId(group);
      assert(!seen.has(group), `group ${group} appears twice in one batch`);
      seen.add(group);
      if (entries.length === 0 && hardState === undefined && snapshot === undefined) continue;
      let log = this.logs.get(group);
      if (log === undefined) {
        newGroups += 1;
        log = new WalGroupLog(group);
      }
      if (snapshot !== undefined) {
        assert(snapshot.index > log.snapshotIndex(), `group ${group}: an installed snapshot must be newer than the stored one (${log.snapshotIndex()})`);
        log.assertSnapshotAgrees(snapshot.index, snapshot.term);
        const { index, term, confState } = snapshot;
        records.push({ bytes: encodeCompactRecord(group, index, term, false, confState), effect: { type: "compact", group, index, term, confState } });
        // Check what follows against the log as it will be: the snapshot alone.
        log = WalGroupLog.restore(group, log.hardState(), snapshot, []);
      }
      if (entries.length > 0) {
        log.assertAppendable(entries);
        for (const run of encodeEntriesRecords(group, entries, this.options.recordBytesMax)) {
          records.push({ bytes: run.bytes, effect: { type: "entries", group, lastIndex: run.lastIndex } });
        }
      }
      if (hardState !== undefined) {
        log.assertHardState(hardState, entries.length > 0 ? entries[entries.length - 1]!.index : log.lastIndex());
        records.push({ bytes: encodeHardStateRecord(group, hardState), effect: { type: "hardState", group, hardState } });
      }
    }
    this.checkGroupCount(newGroups);
    return records;
  }

  private groupLog(group: GroupId): WalGroupLog {
    let log = this.logs.get(group);
    if (log === undefined) {
      this.checkGroupCount(1);
      log = new WalGroupLog(group);
      this.logs.set(group, log);
    }
    return log;
  }

  private checkGroupCount(added: number): void {
    if (this.logs.size + added > this.options.groupsMax) {
      throw new WalLimitError(`the log would hold ${this.logs.size + added} groups, above groupsMax ${this.options.groupsMax}`);
    }
  }
}
