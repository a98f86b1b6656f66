import { readFile, stat } from "node:fs/promises";
import { SeededRandom } from "@distcache/raft";
import type { Logger } from "pino";

/*
 * The peer transport's test-only fault hook (--testing-peer-faults FILE, accepted only
 * with --testing): outbound frames to each destination are dropped or delayed as a JSON
 * file says, so the chaos harness acts on Raft traffic whatever the transport under it
 * (a proxy between nodes can only do so while links are plain TCP). The file is
 *
 *   { "seed": 7, "links": { "n2": { "cut": true }, "n3": { "drop": 0.2, "delayMs": 40, "jitterMs": 10 } } }
 *
 * and is read again whenever it changes; a destination it does not name has no fault.
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
  /** Times the file was read and taken. */
  reloads: number;
}

const PASS: FaultVerdict = { drop: false, delayMs: 0 };
/** How often the file's modification time is checked. */
const POLL_INTERVAL_MS = 50;
/** The largest delay a fault file may ask for. */
const FAULT_DELAY_MS_MAX = 60_000;

export class PeerFaultHook {
  private faults = new Map<string, PeerFault>();
  private random: () => number = seeded(1);
  /** Per destination, when its last delayed frame leaves: a frame never overtakes an earlier one. */
  private readonly releaseAt = new Map<string, number>();
  /** The file's modification time, size and inode when it was last read. */
  private lastSeen = "";
  private timer: NodeJS.Timeout | undefined;
  readonly stats: FaultHookStats = { dropped: 0, delayed: 0, reloads: 0 };

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Reads `file` now and whenever it changes, until close(). A file that does not parse leaves the faults as they were. */
  static async watch(file: string, logger: Logger): Promise<PeerFaultHook> {
    const hook = new PeerFaultHook();
    const poll = async () => {
      try {
        const { mtimeMs, size, ino } = await stat(file);
        const seen = `${mtimeMs}:${size}:${ino}`;
        if (seen === hook.lastSeen) return;
        hook.lastSeen = seen;
        hook.load(JSON.parse(await readFile(file, "utf8")));
        logger.info({ file, faults: Object.fromEntries(hook.faults) }, "peer faults loaded (test-only)");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          hook.lastSeen = "";
          if (hook.faults.size > 0) hook.load({ links: {} });
          return;
        }
        logger.warn({ file, err: String(err) }, "peer fault file ignored");
      }
    };
    await poll();
    hook.timer = setInterval(() => void poll(), POLL_INTERVAL_MS);
    hook.timer.unref();
    return hook;
  }

  /** Takes a parsed fault file (throws a TypeError if it is malformed, keeping the faults as they were). */
  load(document: unknown): void {
    if (!isRecord(document) || !isRecord(document["links"] ?? {})) throw new TypeError('a fault file is an object: { "seed"?: n, "links": { id: fault } }');
    const links = (document["links"] ?? {}) as Record<string, unknown>;
    const faults = new Map<string, PeerFault>();
    for (const [to, raw] of Object.entries(links)) faults.set(to, parseFault(to, raw));
    const seed = document["seed"] === undefined ? 1 : Number(document["seed"]);
    if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be an integer, got ${JSON.stringify(document["seed"])}`);
    this.faults = faults;
    this.random = seeded(seed);
    this.stats.reloads++;
  }

  /** The verdict on the next frame to `to`. */
  verdict(to: string): FaultVerdict {
    const fault = this.faults.get(to);
    if (fault === undefined) return PASS;
    if (fault.cut || (fault.drop > 0 && this.random() < fault.drop)) {
      this.stats.dropped++;
      return { drop: true };
    }
    if (fault.delayMs === 0 && fault.jitterMs === 0 && (this.releaseAt.get(to) ?? 0) <= this.now()) return PASS;
    const now = this.now();
    const at = Math.max(this.releaseAt.get(to) ?? 0, now + fault.delayMs + this.random() * fault.jitterMs);
    this.releaseAt.set(to, at);
    this.stats.delayed++;
    return { drop: false, delayMs: at - now };
  }

  close(): void {
    clearInterval(this.timer);
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
