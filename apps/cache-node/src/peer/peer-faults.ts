import { SeededRandom } from "@distcache/raft";

/*
 * The peer transport's test-only fault hook (the "links" of --testing-control, accepted
 * only with --testing): outbound frames to each destination are dropped or delayed as the
 * control file says, so the chaos harness acts on Raft traffic whatever the transport
 * under it (a proxy between nodes can only do so while links are plain TCP). For example
 *
 *   { "seed": 7, "links": { "n2": { "cut": true }, "n3": { "drop": 0.2, "delayMs": 40, "jitterMs": 10 } } }
 *
 * A destination the file does not name has no fault.
 */

/** The faults on frames to one destination. */
export interface PeerFault {
  /** Drop every frame. */
  cut: boolean;
  /** Drop each frame with this probability. */
  drop: number;
  /** Hold every frame this long (order kept)... */
  delayMs: number;
  /** ...plus up to this much more, drawn per frame. */
  jitterMs: number;
}

/** What to do with one frame: drop it, or send it after delayMs (0: now). */
export type FaultVerdict = { drop: true } | { drop: false; delayMs: number };

export interface FaultHookStats {
  /** Frames the hook dropped. */
  dropped: number;
  /** Frames the hook delayed. */
  delayed: number;
  /** Times new faults were taken. */
  reloads: number;
}

const PASS: FaultVerdict = { drop: false, delayMs: 0 };
/** The largest delay a control file may ask for. */
const FAULT_DELAY_MS_MAX = 60_000;

export class PeerFaultHook {
  private faults = new Map<string, PeerFault>();
  private random: () => number = seeded(1);
  /** Per destination, when its last delayed frame leaves: a frame never overtakes an earlier one. */
  private readonly releaseAt = new Map<string, number>();
  readonly stats: FaultHookStats = { dropped: 0, delayed: 0, reloads: 0 };

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes the control file's seed and links (throws a TypeError if they are malformed, keeping the faults as they were). */
  load(document: unknown): void {
    if (!isRecord(document) || !isRecord(document["links"] ?? {})) {
      throw new TypeError('links must be an object: { "links": { "<node id>": { "cut", "drop", "delayMs", "jitterMs" } } }');
    }
    const links = (document["links"] ?? {}) as Record<string, unknown>;
    const faults = new Map<string, PeerFault>();
    for (const [to, raw] of Object.entries(links)) faults.set(to, parseFault(to, raw));
    const seed = document["seed"] === undefined ? 1 : Number(document["seed"]);
    if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be an integer, got ${JSON.stringify(document["seed"])}`);
    this.faults = faults;
    this.random = seeded(seed);
    this.stats.reloads++;
  }

  /** Whether frames to `to` are cut now: a frame held back by a delay is dropped when it is due during a cut. */
  isCut(to: string): boolean {
    return this.faults.get(to)?.cut === true;
  }

  /** The verdict on the next frame to `to`. */
  verdict(to: string): FaultVerdict {
    const fault = this.faults.get(to);
    if (fault !== undefined && (fault.cut || (fault.drop > 0 && this.random() < fault.drop))) {
      this.stats.dropped++;
      return { drop: true };
    }
    const now = this.now();
    // Even with no fault left, a frame waits behind the ones still delayed.
    const delayMs = fault === undefined ? 0 : fault.delayMs + this.random() * fault.jitterMs;
    if (delayMs === 0 && (this.releaseAt.get(to) ?? 0) <= now) return PASS;
    const at = Math.max(this.releaseAt.get(to) ?? 0, now + delayMs);
    this.releaseAt.set(to, at);
    this.stats.delayed++;
    return { drop: false, delayMs: at - now };
  }
}

function parseFault(to: string, raw: unknown): PeerFault {
  if (!isRecord(raw)) throw new TypeError(`the fault of ${to} must be an object`);
  const number = (key: string, max: number): number => {
    const value = raw[key] ?? 0;
    if (typeof value === "number" && value >= 0 && value <= max) return value;
    throw new TypeError(`${to}.${key} must be a number in [0, ${max}], got ${JSON.stringify(value)}`);
  };
  if (raw["cut"] !== undefined && typeof raw["cut"] !== "boolean") throw new TypeError(`${to}.cut must be true or false`);
  const delayMs = number("delayMs", FAULT_DELAY_MS_MAX);
  return { cut: raw["cut"] === true, drop: number("drop", 1), delayMs, jitterMs: number("jitterMs", FAULT_DELAY_MS_MAX) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A uniform draw in [0, 1) from a seeded source, so a run's drops follow its seed. */
function seeded(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.nextUint32() / 2 ** 32;
}
