/**
 * How fast cluster time may gain on the leader's wall clock when that clock is ahead: 1%
 * of the monotonic time elapsed (invariant 9 of docs/design.md).
 */
export const SLEW_RATE = 0.01;

/**
 * One replica's estimate of its shard's time (invariant 9 of docs/design.md). Pure: it is
 * fed clock readings and never reads a clock.
 *
 * The estimate is an anchor stamp plus the local monotonic time elapsed since the anchor
 * was taken. A leader anchors at each stamp it gives a proposal, so the time a proposal
 * takes to commit is not lost from the next stamp. A follower anchors at the estimate its
 * leader sends with each message (every heartbeat), so it follows the leader's rate, and
 * at a stamp it applies only if that moves its estimate forward: an entry can be applied
 * long after it was stamped (a new leader commits its predecessor's last entries after an
 * election), and anchoring such a stamp at the time of its apply would lose that delay.
 * A leader whose wall clock is ahead of the estimate gains on it by at most SLEW_RATE of
 * the elapsed time. The estimate never moves backwards: it is held at the
 * latest value handed out until the anchored time passes it.
 *
 * Until the replica applies a command that reached its log after this process started, it
 * knows only stamps from before the restart (or none, in a new shard), and the time
 * elapsed since then is unknown: meanwhile, as leader, it also takes the wall clock when
 * that is ahead, so a new shard starts at the wall clock, and a whole cluster that
 * restarts after an outage expires keys by the time that passed. A follower does not: it
 * soon applies the leader's stamps.
 *
 * Internally times are kept to the fraction of a millisecond, so that rounding a stamp to
 * whole milliseconds loses no time from the next one; what is handed out is rounded down.
 */
export class ClusterTime {
  private anchorStampMs: number;
  private anchorMonotonicMs: number;
  /** The latest estimate handed out, unrounded: no later one is lower. */
  private floorMs: number;
  private live = false;

  constructor(
    /** The replica's last applied stamp when it was opened. */
    stampMs: number,
    monotonicMs: number,
    /** The last index of the replica's log when it was opened: commands after it arrived in this process. */
    private readonly bootLastIndex: number,
  ) {
    this.anchorStampMs = stampMs;
    this.anchorMonotonicMs = monotonicMs;
    this.floorMs = stampMs;
  }

  /**
   * The estimate at monotonic reading monotonicMs, in whole milliseconds. A leader passes its
   * wall clock reading, which the estimate slews toward; a follower passes undefined.
   */
  nowMs(monotonicMs: number, wallMs: number | undefined): number {
    return Math.floor(this.exactMs(monotonicMs, wallMs));
  }

  /** As leader: the stamp for a proposal made at monotonicMs; the estimate goes on from it. */
  stamp(monotonicMs: number, wallMs: number): number {
    const exact = this.exactMs(monotonicMs, wallMs);
    this.anchor(exact, monotonicMs);
    return Math.floor(exact);
  }

  private exactMs(monotonicMs: number, wallMs: number | undefined): number {
    const elapsedMs = Math.max(0, monotonicMs - this.anchorMonotonicMs);
    let estimate = this.anchorStampMs + elapsedMs;
    if (wallMs !== undefined && wallMs > estimate) estimate = this.live ? estimate + Math.min(wallMs - estimate, SLEW_RATE * elapsedMs) : wallMs;
    this.floorMs = Math.max(this.floorMs, estimate);
    return this.floorMs;
  }

  /**
   * The replica applied entries; its last applied stamp is stampMs (at monotonicMs), and the
   * last command among them was at commandIndex (undefined: none, or a snapshot).
   */
  applied(stampMs: number, monotonicMs: number, commandIndex: number | undefined): void {
    if (commandIndex !== undefined && commandIndex > this.bootLastIndex) this.live = true;
    if (stampMs > this.anchorStampMs + Math.max(0, monotonicMs - this.anchorMonotonicMs)) this.anchor(stampMs, monotonicMs);
  }

  /**
   * As follower: the leader's estimate, received at monotonicMs. The latest one is the
   * anchor even when it is lower than this estimate (this clock ran fast, or this replica
   * led before): what was handed out stays the floor.
   */
  observedLeader(leaderMs: number, monotonicMs: number): void {
    this.anchorStampMs = leaderMs;
    this.anchorMonotonicMs = monotonicMs;
  }

  /** Whether the replica applied a command that arrived in this process (its time no longer predates the restart). */
  get isLive(): boolean {
    return this.live;
  }

  private anchor(stampMs: number, monotonicMs: number): void {
    // Only a later stamp moves the anchor: re-anchoring at an earlier one (a leader's own
    // stamp, applied a few milliseconds after it was given, or rounded down) would lose that time.
    if (stampMs <= this.anchorStampMs) return;
    this.anchorStampMs = stampMs;
    this.anchorMonotonicMs = monotonicMs;
  }
}
