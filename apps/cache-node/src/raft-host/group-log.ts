import { MemoryStorage, type Entry, type HardState, type NodeId, type Storage } from "@distcache/raft";

export interface GroupLogWrite {
  group: number;
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
      storage.append(write.entries);
      if (write.hardState) storage.setHardState(write.hardState);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
