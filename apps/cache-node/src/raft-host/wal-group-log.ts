import { NodeWal, type WalOptions } from "@distcache/raft";
import type { Logger } from "pino";
import type { GroupLog } from "./group-log.js";

/** The node's shared write-ahead log, seen as the GroupLog the multi-Raft host drives (options: the log's limits and file system). */
export async function openWalGroupLog(dir: string, log: Logger, options?: WalOptions): Promise<GroupLog> {
  const started = performance.now();
  const wal = await NodeWal.open(dir, options);
  log.info({ dir, groups: wal.groups().length, recoveryMs: Math.round(performance.now() - started) }, "write-ahead log recovered");
  return {
    storage: (group) => wal.storage(group),
    append: (batch, sync) => wal.append(batch, sync),
    compact: (group, { index, term, confState }) => wal.compact(group, index, term, confState),
    close: () => wal.close(),
  };
}
