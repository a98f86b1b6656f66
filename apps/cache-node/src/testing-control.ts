import { readFile, stat } from "node:fs/promises";
import type { Logger } from "pino";
import { describeTestingSwitches, type TestingSwitches } from "./config/testing-switches.js";
import type { Clock } from "./consensus/clock.js";
import { ControlledClock, checkClockControl, type ClockControl } from "./consensus/controlled-clock.js";
import { PeerFaultHook } from "./peer/peer-faults.js";

/*
 * The test-only control file (--testing-control FILE, accepted only with --testing): the
 * chaos harness writes it, and the node reads it again whenever it changes, to act on its
 * peer links and its clocks at run time:
 *
 *   {
 *     "serial": 12,
 *     "seed": 7,
 *     "links": { "n2": { "cut": true }, "n3": { "drop": 0.2, "delayMs": 40, "jitterMs": 10 } },
 *     "clock": { "stepMs": 60000, "rate": 1.05, "strobe": { "amplitudeMs": 2000, "periodMs": 200 } }
 *   }
 *
 * A document whose serial is not above the last one taken is ignored. A section left out means no fault of its kind (for the clock: the step of
 * --testing-clock-offset-ms, at the real rate). A file that does not parse, or that has a
 * section out of bounds, is logged and changes nothing.
 */

/** How often the file's modification time is checked. */
export const CONTROL_POLL_INTERVAL_MS = 50;

export interface ControlTargets {
  peerFaults: PeerFaultHook | undefined;
  clock: ControlledClock | undefined;
  /** The clock's step when the file has no clock section (--testing-clock-offset-ms). */
  clockStepMs: number;
}

export interface TestingControl {
  /** Reads the file now (tests call this instead of waiting for the poll). */
  poll(): Promise<void>;
  close(): void;
}

/** Applies one parsed control document; throws a TypeError or RangeError on the first section that is malformed. */
export function applyControl(document: unknown, targets: ControlTargets): void {
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new TypeError('the control file must hold an object: { "seed"?, "links"?, "clock"? }');
  }
  const record = document as Record<string, unknown>;
  const clock = parseClock(record["clock"], targets.clockStepMs);
  targets.peerFaults?.load(record);
  targets.clock?.apply(clock);
}

function parseClock(raw: unknown, defaultStepMs: number): ClockControl {
  if (raw === undefined) return { stepMs: defaultStepMs, rate: 1, strobe: undefined };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new TypeError("clock must be an object: { stepMs?, rate?, strobe? }");
  const { stepMs = defaultStepMs, rate = 1, strobe } = raw as Record<string, unknown>;
  if (typeof stepMs !== "number" || typeof rate !== "number") throw new TypeError("clock stepMs and rate must be numbers");
  let parsedStrobe: ClockControl["strobe"];
  if (strobe !== undefined) {
    const { amplitudeMs, periodMs } = (strobe ?? {}) as Record<string, unknown>;
    if (typeof amplitudeMs !== "number" || typeof periodMs !== "number") throw new TypeError("clock strobe must be { amplitudeMs, periodMs }, both numbers");
    parsedStrobe = { amplitudeMs, periodMs };
  }
  const control = { stepMs, rate, strobe: parsedStrobe };
  checkClockControl(control);
  return control;
}

/** Reads `file` now and whenever it changes, until close(). A missing file means no faults. */
export async function watchTestingControl(file: string, logger: Logger, targets: ControlTargets): Promise<TestingControl> {
  let lastSeen = "";
  let lastSerial = -1;
  let polling: Promise<void> | undefined;
  const readOnce = async () => {
    try {
      const { mtimeMs, size, ino } = await stat(file);
      const seen = `${mtimeMs}:${size}:${ino}`;
      if (seen === lastSeen) return;
      const document: unknown = JSON.parse(await readFile(file, "utf8"));
      lastSeen = seen;
      // A writer numbers its documents: one read late never replaces a newer one.
      const serial = (document as { serial?: unknown } | null)?.serial;
      if (typeof serial === "number" && serial <= lastSerial) return;
      applyControl(document, targets);
      if (typeof serial === "number") lastSerial = serial;
      logger.info({ file, serial, clock: targets.clock?.settings }, "testing control loaded (test-only)");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (lastSeen !== "") applyControl({}, targets);
        lastSeen = "";
        return;
      }
      logger.warn({ file, err: String(err) }, "testing control file ignored");
    }
  };
  // One read at a time: a slow one must not finish after a newer one.
  const poll = () => (polling ??= readOnce().finally(() => (polling = undefined)));
  await poll();
  const timer = setInterval(() => void poll(), CONTROL_POLL_INTERVAL_MS);
  timer.unref();
  return { poll, close: () => clearInterval(timer) };
}

/** What a node started with --testing runs with: its clocks and peer fault hook, and the control file's watcher. */
export interface TestingHooks {
  clock: Clock;
  peerFaults: PeerFaultHook | undefined;
  close(): void;
}

/** The clocks and hooks of a node: the base clock alone without --testing; a controlled clock and fault hook with it. */
export async function startTestingHooks(testing: TestingSwitches | undefined, logger: Logger, base: Clock): Promise<TestingHooks> {
  if (testing === undefined) return { clock: base, peerFaults: undefined, close: () => undefined };
  logger.warn({ testing: describeTestingSwitches(testing) }, "TEST-ONLY switches are on (--testing): never run this node in production");
  const clock = new ControlledClock(base);
  clock.apply({ stepMs: testing.clockOffsetMs, rate: 1, strobe: undefined });
  if (testing.controlFile === undefined) return { clock, peerFaults: undefined, close: () => undefined };
  const peerFaults = new PeerFaultHook();
  const control = await watchTestingControl(testing.controlFile, logger, { peerFaults, clock, clockStepMs: testing.clockOffsetMs });
  return { clock, peerFaults, close: () => control.close() };
}
