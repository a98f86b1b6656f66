/** A broken drain-state or Ready rule: a bug in the driver or the core, never caused by input. */
export class DrainStateError extends Error {
  override name = "DrainStateError";
}

/** Messages that promise what their Ready persists (a vote cast, entries appended): they may leave only after it is durable. */
const PROMISING: ReadonlySet<string> = new Set(["voteResp", "preVoteResp", "appResp"]);

/**
 * The Ready contract the driver relies on, checked on each Ready: committed entries
 * follow the replica's applied index (or the snapshot it installs) without a gap, and
 * no message sent before the Ready is persisted promises what it persists.
 */
export function checkReady(
  shard: number,
  appliedIndex: number,
  ready: {
    snapshot?: { index: number };
    committedEntries: readonly { index: number }[];
    immediateMessages: readonly { type: string }[];
    entries: readonly unknown[];
    hardState?: unknown;
  },
): void {
  let next = (ready.snapshot?.index ?? appliedIndex) + 1;
  for (const entry of ready.committedEntries) {
    check(entry.index === next, `shard ${shard}: committed entry ${entry.index} does not follow ${next - 1}`);
    next++;
  }
  if (ready.entries.length > 0 || ready.hardState !== undefined || ready.snapshot !== undefined) {
    for (const message of ready.immediateMessages)
      check(!PROMISING.has(message.type), `shard ${shard}: a ${message.type} would leave before its Ready is persisted`);
  }
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new DrainStateError(message);
}

/** How the driver handles a Ready it takes: applied as usual, or with its committed entries deferred (a capture reads the replica). */
export type ReadyMode = "apply" | "defer";

/**
 * The one owner of a replica's drain state: whether the driver is between taking one of
 * its Readys and advancing it, and whether captures (a snapshot, a digest) hold the
 * replica's state still. A held replica's Readys are still taken, persisted and sent
 * (heartbeats and append acks go out, so a long capture on a big shard costs no
 * election), but their committed entries wait until the last hold is released: nothing
 * is applied to a replica being captured. A capture may read the replica once no Ready
 * taken before it, in "apply" mode, is in flight. Waiting for that is an event, not a
 * poll: a capture never spins on turns of the event loop that the Ready may need.
 */
export class ReplicaDrain {
  private taken: ReadyMode | undefined;
  private holds = 0;
  private waiters: { wake: () => void; fail: (err: Error) => void }[] = [];
  private abandoned: Error | undefined;

  constructor(private readonly shard: number) {}

  /** Whether the driver may take the replica's next Ready now. */
  get canTakeReady(): boolean {
    return this.taken === undefined;
  }

  /** Whether a capture holds the replica: Readys taken now defer their committed entries. */
  get held(): boolean {
    return this.holds > 0;
  }

  /** Whether a Ready of the replica is taken and not yet advanced. */
  get betweenReadyAndAdvance(): boolean {
    return this.taken !== undefined;
  }

  /** Driver: a Ready was taken; returns how to handle it. */
  tookReady(): ReadyMode {
    check(this.taken === undefined, `shard ${this.shard}: a Ready was taken before the previous one was advanced`);
    this.taken = this.holds > 0 ? "defer" : "apply";
    return this.taken;
  }

  /** Driver: the Ready taken was advanced. */
  advanced(): void {
    check(this.taken !== undefined, `shard ${this.shard}: advanced without a Ready taken`);
    this.taken = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.wake();
  }

  /**
   * The driver stopped (the node closes, or its cycle failed): a Ready in flight may never
   * be advanced, so every hold waiting for one fails, and so does any later hold.
   */
  abandon(reason: Error): void {
    this.abandoned ??= reason;
    for (const waiter of this.waiters.splice(0)) waiter.fail(this.abandoned);
  }

  /**
   * Holds the replica's state still from now on; resolves, with the function that
   * releases the hold (once), when no Ready taken earlier to be applied is in flight.
   * Holds may overlap.
   */
  async hold(): Promise<() => void> {
    if (this.abandoned) throw this.abandoned;
    this.holds++;
    try {
      while (this.taken === "apply") await new Promise<void>((wake, fail) => this.waiters.push({ wake, fail }));
    } catch (err) {
      this.holds--;
      throw err;
    }
    let released = false;
    return () => {
      check(!released, `shard ${this.shard}: a hold released twice`);
      released = true;
      this.holds--;
    };
  }
}
