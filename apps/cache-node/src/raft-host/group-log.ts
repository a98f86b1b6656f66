import { MemoryStorage, type Entry, type HardState, type NodeId, type SnapshotMetadata, type Storage } from "@distcache/raft";

export interface GroupLogWrite {
  group: number;
  /** A snapshot received from the leader: it replaces the group's whole log, before `entries`. */
  snapshot?: SnapshotMetadata | undefined;
  hardState?: HardState | undefined;
  entries: readonly Entry[];
}

/**
 * Durable storage for all Raft groups of a node: one append (and at most one sync) per
 * batch across groups. The node's write-ahead log implements it; MemoryGroupLog serves
 * tests that run several nodes in one process.
 */
export interface GroupLog {
  storage(group: number, voters: readonly NodeId[]): Storage;
  /** Makes every write durable (when sync) before resolving. */
  append(batch: readonly GroupLogWrite[], sync: boolean): Promise<void>;
  /**
   * Drops the group's entries up to `snapshot.index`, which a state-machine snapshot
   * saved durably beforehand covers. Resolves when durable; an older point is a no-op.
   */
  compact(group: number, snapshot: SnapshotMetadata): Promise<void>;
  close(): Promise<void>;
}

export class MemoryGroupLog implements GroupLog {
  private readonly groups = new Map<number, MemoryStorage>();
  appends = 0;

  storage(group: number, voters: readonly NodeId[]): MemoryStorage {
    let storage = this.groups.get(group);
    if (!storage) {
      storage = new MemoryStorage(voters);
      this.groups.set(group, storage);
    }
    return storage;
  }

  append(batch: readonly GroupLogWrite[]): Promise<void> {
    this.appends++;
    for (const write of batch) {
      const storage = this.groups.get(write.group);
      if (!storage) throw new Error(`append to unknown group ${write.group}`);
      if (write.snapshot) storage.applySnapshot(write.snapshot);
      storage.append(write.entries);
      if (write.hardState) storage.setHardState(write.hardState);
    }
    return Promise.resolve();
  }

  compact(group: number, snapshot: SnapshotMetadata): Promise<void> {
    const storage = this.groups.get(group);
    if (!storage) return Promise.reject(new Error(`compact of unknown group ${group}`));
    if (snapshot.index > storage.snapshot().index) storage.compact(snapshot);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
