import { MemoryStorage, type NodeId, type SnapshotMetadata } from "@distcache/raft";
import type { GroupLog, GroupLogWrite } from "../group-log.js";

/** A GroupLog in memory, for tests that run several nodes in one process: nothing survives the process. */
export class MemoryGroupLog implements GroupLog {
  private readonly storages = new Map<number, MemoryStorage>();
  appends = 0;

  storage(group: number, voters: readonly NodeId[]): MemoryStorage {
    let storage = this.storages.get(group);
    if (!storage) {
      storage = new MemoryStorage(voters);
      this.storages.set(group, storage);
    }
    return storage;
  }

  bootstrap(group: number, voters: readonly NodeId[]): Promise<void> {
    this.storage(group, voters);
    return Promise.resolve();
  }

  drop(group: number): Promise<void> {
    this.storages.delete(group);
    return Promise.resolve();
  }

  groups(): { group: number; voters: readonly NodeId[] }[] {
    return [...this.storages.entries()].map(([group, storage]) => ({ group, voters: storage.initialState().voters }));
  }

  append(batch: readonly GroupLogWrite[]): Promise<void> {
    this.appends++;
    for (const write of batch) {
      const storage = this.storages.get(write.group);
      if (!storage) throw new Error(`append to unknown group ${write.group}`);
      if (write.snapshot) storage.applySnapshot(write.snapshot);
      storage.append(write.entries);
      if (write.hardState) storage.setHardState(write.hardState);
    }
    return Promise.resolve();
  }

  compact(group: number, snapshot: SnapshotMetadata): Promise<void> {
    const storage = this.storages.get(group);
    if (!storage) return Promise.reject(new Error(`compact of unknown group ${group}`));
    if (snapshot.index > storage.snapshot().index) storage.compact(snapshot);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
