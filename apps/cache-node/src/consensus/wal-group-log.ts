import { asNodeId, compareNodeIds, type NodeId } from "@distcache/raft";
import { NodeWal, type WalOptions } from "@distcache/raft/wal";
import type { Logger } from "pino";
import { ConfigError } from "../config/config-error.js";
import { groupOfShard, type GroupLog, type HostedShard } from "./group-log.js";

/**
 * The node's shared write-ahead log, seen as the GroupLog the multi-Raft host drives.
 *
 * The group of each hosted shard has its voters as its Raft configuration at index 0,
 * recorded in the log (NodeWal.bootstrap) the first time the group is opened; membership
 * changes in the log extend it. A group whose recorded voters differ from the ones this
 * node's flags place on it refuses to open with a ConfigError naming the shard and both
 * lists (the Raft core makes the same check, from `initialState().voters`).
 */
export async function openWalGroupLog(dir: string, logger: Logger, options?: WalOptions, hosted: readonly HostedShard[] = []): Promise<GroupLog> {
  const started = performance.now();
  const wal = await NodeWal.open(dir, options);
  logger.info({ dir, groups: wal.groups().length, recoveryMs: Math.round(performance.now() - started) }, "write-ahead log recovered");
  try {
    await Promise.all(hosted.map((shard) => bootstrapGroup(wal, dir, shard)));
  } catch (err) {
    await wal.close().catch(() => undefined);
    throw err;
  }
  return {
    storage: (group) => wal.storage(group),
    bootstrap: async (group, voters) => {
      const configured = voters.map(asNodeId).sort(compareNodeIds);
      const recorded = wal.storage(group).initialState().voters;
      if (recorded.length > 0 && !sameIds(recorded, configured)) {
        throw new ConfigError(`group ${group} is recorded with voters [${recorded.join(",")}] in ${dir}, not [${configured.join(",")}]`);
      }
      await wal.bootstrap(group, configured);
    },
    drop: (group) => wal.dropGroup(group),
    groups: () => wal.groups().map((group) => ({ group, voters: wal.storage(group).initialState().voters })),
    append: (batch, sync) => wal.append(batch, sync),
    compact: (group, { index, term, confState }) => wal.compact(group, index, term, confState),
    close: () => wal.close(),
  };
}

async function bootstrapGroup(wal: NodeWal, dir: string, { shard, voters }: HostedShard): Promise<void> {
  const group = groupOfShard(shard);
  const configured = voters.map(asNodeId).sort(compareNodeIds);
  const storage = wal.storage(group);
  const recorded = storage.initialState().voters;
  if (recorded.length > 0) {
    if (!sameIds(recorded, configured)) throw differs(shard, dir, recorded, configured, "recorded at bootstrap");
    return;
  }
  // A log written before the bootstrap membership was recorded: its last snapshot point
  // may still know the group's voters (membership is static, so they are the bootstrap ones).
  const known = storage.snapshot().confState.voters;
  if (known.length > 0 && !sameIds(known, configured)) throw differs(shard, dir, known, configured, "recorded with its last snapshot");
  await wal.bootstrap(group, configured);
}

function differs(shard: number, dir: string, recorded: readonly NodeId[], configured: readonly NodeId[], how: string): ConfigError {
  return new ConfigError(
    `shard ${shard}: the write-ahead log in ${dir} holds voters [${recorded.join(",")}] for this group (${how}), ` +
      `but this node's --initial-cluster, --shards and --replicas place it on [${configured.join(",")}]; ` +
      "start the node with the flags it was bootstrapped with",
  );
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
