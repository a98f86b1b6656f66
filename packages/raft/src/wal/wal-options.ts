import { NodeWalFs } from "./node-wal-fs.js";
import { checkpointBytesMax } from "./record-encoder.js";
import { WalLimitError } from "./wal-errors.js";
import type { WalFs } from "./wal-fs.js";

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * Limits of the log. Each has a default and a validated range; exceeding one
 * at run time raises a `WalLimitError` before anything is written.
 */
export interface WalOptions {
  /**
   * A segment is rolled before a write that would take it past this size, so
   * segments stay at most this big unless a single record is larger (it then
   * gets a segment of its own). Default 64 MiB.
   */
  readonly segmentBytesMax?: number;
  /**
   * Largest record body. A group's entries in one append are split across
   * records of at most this size; one entry must fit in a record on its own.
   * Default 4 MiB (or segmentBytesMax, if smaller).
   */
  readonly recordBytesMax?: number;
  /** Most groups the log holds at once: it bounds the checkpoint at the head of each segment. Default 1024. */
  readonly groupsMax?: number;
  /**
   * Most encoded bytes queued for writing but not yet written. Appends beyond
   * it are refused, which is the host's signal to slow down. Default 256 MiB.
   */
  readonly pendingBytesMax?: number;
  /** Default: the real file system. */
  readonly fs?: WalFs;
}

export interface ResolvedWalOptions {
  readonly segmentBytesMax: number;
  readonly recordBytesMax: number;
  readonly groupsMax: number;
  readonly pendingBytesMax: number;
  readonly fs: WalFs;
}

/** Ranges [min, max] each option must fall in. */
export const WAL_LIMITS = {
  segmentBytesMax: { min: 1 * KIB, max: 1024 * MIB, default: 64 * MIB },
  recordBytesMax: { min: 256, max: 256 * MIB, default: 4 * MIB },
  groupsMax: { min: 1, max: 65_536, default: 1024 },
  pendingBytesMax: { min: 1 * KIB, max: 16 * 1024 * MIB, default: 256 * MIB },
} as const;

export function resolveWalOptions(options: WalOptions = {}): ResolvedWalOptions {
  const segmentBytesMax = checkRange("segmentBytesMax", options.segmentBytesMax ?? WAL_LIMITS.segmentBytesMax.default);
  const recordDefault = Math.min(WAL_LIMITS.recordBytesMax.default, segmentBytesMax);
  const recordBytesMax = checkRange("recordBytesMax", options.recordBytesMax ?? recordDefault);
  const groupsMax = checkRange("groupsMax", options.groupsMax ?? WAL_LIMITS.groupsMax.default);
  const pendingBytesMax = checkRange("pendingBytesMax", options.pendingBytesMax ?? WAL_LIMITS.pendingBytesMax.default);
  // The checkpoint (one record at the head of every segment) lists every group, so it must always fit.
  const checkpointBytes = checkpointBytesMax(groupsMax);
  if (checkpointBytes > recordBytesMax) {
    throw new WalLimitError(
      `recordBytesMax ${recordBytesMax} B is below the checkpoint size for groupsMax ${groupsMax} (${checkpointBytes} B): raise it or lower groupsMax`,
    );
  }
  if (recordBytesMax > pendingBytesMax) {
    throw new WalLimitError(`pendingBytesMax ${pendingBytesMax} B must be at least recordBytesMax ${recordBytesMax} B`);
  }
  return { segmentBytesMax, recordBytesMax, groupsMax, pendingBytesMax, fs: options.fs ?? new NodeWalFs() };
}

function checkRange(name: keyof typeof WAL_LIMITS, value: number): number {
  const { min, max } = WAL_LIMITS[name];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new WalLimitError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}
