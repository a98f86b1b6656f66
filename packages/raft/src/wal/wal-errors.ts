/**
 * Errors of the write-ahead log. Each is an operating error the host must
 * handle (refuse to start, shed load, restart); a broken invariant is a
 * `RaftAssertionError` instead (programmer error).
 */

/**
 * Recovery found bytes that cannot be a torn tail: a bad checksum, an
 * undecodable record or an impossible sequence of records anywhere but at the
 * end of the last segment. The node must not start on this log: skipping the
 * record could silently drop acknowledged writes (invariant 5 of docs/design.md).
 */
export class WalCorruptionError extends Error {
  override readonly name = "WalCorruptionError";
  /** Path of the segment file holding the bad record. */
  readonly segment: string;
  /** Byte offset in that file where the bad record starts. */
  readonly offset: number;
  readonly reason: string;

  constructor(segment: string, offset: number, reason: string) {
    super(`WAL corruption in ${segment} at byte offset ${offset}: ${reason}. Refusing to recover; the log before this offset is intact.`);
    this.segment = segment;
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * A segment was written in a WAL format version this build does not read (a
 * newer build wrote it, or an unknown one). Nothing is read past it: there are
 * no rolling upgrades before 1.0, so the node must run the build that wrote it.
 */
export class WalFormatError extends Error {
  override readonly name = "WalFormatError";
  constructor(
    /** Path of the segment file. */
    readonly segment: string,
    /** The version its checkpoint names. */
    readonly version: number,
    /** The version this build writes, and those it reads. */
    readonly written: number,
    readonly read: readonly number[],
  ) {
    super(
      `${segment} is in WAL format ${version}; this build writes format ${written} and reads ${read.join(", ")}. ` +
        "Refusing to recover (no rolling upgrades before 1.0): run the build that wrote it.",
    );
  }
}

/** A named limit (see `WalOptions` and `wal-limits.ts`) would be exceeded; nothing was written. */
export class WalLimitError extends RangeError {
  override readonly name = "WalLimitError";
}

/** The log was closed; it accepts no more operations. */
export class WalClosedError extends Error {
  override readonly name = "WalClosedError";
}

/**
 * A write, sync or delete failed. What reached the disk is unknown (after a
 * failed fsync the kernel may already have dropped the dirty pages), so the
 * log refuses every later operation: the node must restart and recover.
 */
export class WalFailedError extends Error {
  override readonly name = "WalFailedError";
}
