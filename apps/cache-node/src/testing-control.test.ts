import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ControlledClock } from "./consensus/controlled-clock.js";
import { PeerFaultHook } from "./peer/peer-faults.js";
import { applyControl, startTestingHooks, watchTestingControl } from "./testing-control.js";
import { systemClock } from "./consensus/clock.js";

const silent = pino({ level: "silent" });

function targets(clockStepMs = 0) {
  return { peerFaults: new PeerFaultHook(() => 0), clock: new ControlledClock(), clockStepMs };
}

describe("the testing control file", () => {
  it("sets the peer faults and the clock together", () => {
    const t = targets();
    applyControl({ seed: 3, links: { n2: { cut: true } }, clock: { stepMs: 60_000, rate: 1.05 } }, t);
    expect(t.peerFaults.verdict("n2")).toEqual({ drop: true });
    expect(t.clock.settings).toEqual({ stepMs: 60_000, rate: 1.05, strobe: undefined });
  });

  it("leaves the clock at the startup offset when the file has no clock section", () => {
    const t = targets(-1500);
    applyControl({ clock: { stepMs: 5000 } }, t);
    applyControl({ links: {} }, t);
    expect(t.clock.settings).toEqual({ stepMs: -1500, rate: 1, strobe: undefined });
  });

  it.each([
    [[], /the control file must hold an object/],
    [{ clock: 5 }, /clock must be an object/],
    [{ clock: { rate: "fast" } }, /stepMs and rate must be numbers/],
    [{ clock: { rate: 3 } }, /rate must be in/],
    [{ clock: { strobe: { amplitudeMs: 5 } } }, /strobe must be \{ amplitudeMs, periodMs \}/],
    [{ links: { n2: { drop: 2 } }, clock: { stepMs: 1000 } }, /n2.drop must be a number/],
  ])("changes nothing on the malformed document %j", (document, message) => {
    const t = targets();
    applyControl({ links: { n3: { cut: true } }, clock: { stepMs: 7 } }, t);
    expect(() => applyControl(document, t)).toThrow(message);
    expect(t.peerFaults.verdict("n3")).toEqual({ drop: true });
    expect(t.clock.settings.stepMs).toBe(7);
  });

  it("follows the file as it changes, ignores one that does not parse, and clears the faults when it is removed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-control-"));
    const file = join(dir, "control.json");
    const t = targets();
    const control = await watchTestingControl(file, silent, t);
    try {
      expect(t.peerFaults.verdict("n2").drop).toBe(false);
      writeFileSync(file, JSON.stringify({ links: { n2: { cut: true } }, clock: { stepMs: 60_000 } }));
      await expect.poll(() => t.peerFaults.verdict("n2").drop, { timeout: 2000 }).toBe(true);
      expect(t.clock.settings.stepMs).toBe(60_000);
      writeFileSync(file, "{ not json");
      await control.poll();
      expect(t.peerFaults.verdict("n2").drop).toBe(true);
      rmSync(file);
      await expect.poll(() => t.peerFaults.verdict("n2").drop, { timeout: 2000 }).toBe(false);
      expect(t.clock.settings.stepMs).toBe(0);
    } finally {
      control.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never takes a document numbered below the last one it took", async () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-control-"));
    const file = join(dir, "control.json");
    const t = targets();
    writeFileSync(file, JSON.stringify({ serial: 5, clock: { stepMs: 5000 } }));
    const control = await watchTestingControl(file, silent, t);
    try {
      expect(t.clock.settings.stepMs).toBe(5000);
      writeFileSync(file, JSON.stringify({ serial: 4, clock: { stepMs: 4000 } }));
      await control.poll();
      expect(t.clock.settings.stepMs).toBe(5000);
      writeFileSync(file, JSON.stringify({ serial: 6, clock: { stepMs: 6000 }, padding: "x" }));
      await control.poll();
      expect(t.clock.settings.stepMs).toBe(6000);
    } finally {
      control.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives a node without --testing the base clock and no hooks", async () => {
    const hooks = await startTestingHooks(undefined, silent, systemClock);
    expect(hooks.clock).toBe(systemClock);
    expect(hooks.peerFaults).toBeUndefined();
  });

  it("gives a node with --testing a clock at its startup offset", async () => {
    const hooks = await startTestingHooks({ controlFile: undefined, clockOffsetMs: 90_000, bugs: new Set(), storage: "real" }, silent, systemClock);
    try {
      expect(hooks.clock.nowMs() - Date.now()).toBeGreaterThan(89_000);
      expect(hooks.peerFaults).toBeUndefined();
    } finally {
      hooks.close();
    }
  });
});
