// A short fixed-seed chaos run (tools/chaos/chaos.mjs) against real nodes: every check
// of the harness must pass. It starts processes, so it runs in the vitest `cluster`
// project, after `npm run build` (the harness runs the built node).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HarnessRunner } from "./run-harness.js";

// Seed 191 over 40 s draws a bridge partition, lossy links, a paused node, a kill, a power
// loss, leadership transfers, client faults, a +-60 s wall-clock step and a clock skew
// (the schedule is printed at the start).
const SEED = "191";
const dir = mkdtempSync(join(tmpdir(), "distcache-chaos-smoke-"));
const harness = new HarnessRunner();

afterAll(async () => {
  await harness.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe("the chaos harness", () => {
  it("passes a short fixed-seed run with every nemesis on", async () => {
    const reportFile = join(dir, "report.json");
    const { code, output } = await harness.run(["--nodes", "3", "--duration", "40s", "--seed", SEED, "--report-json", reportFile]);
    expect(code, output).toBe(0);
    expect(output).toContain(`PASS (seed ${SEED})`);
    const report = JSON.parse(readFileSync(reportFile, "utf8"));
    expect(report.verdict).toBe("pass");
    // The faults really happened, and the checks had something to judge.
    const applied = new Set(report.faults.filter((f: { applied: boolean }) => f.applied).map((f: { kind: string }) => f.kind));
    expect([...applied]).toEqual(expect.arrayContaining(["kill", "crash", "pause", "partition-bridge", "lossy", "transfer", "clock-step", "clock-skew"]));
    // The power loss happened as one: the node cut its files and died by SIGKILL.
    expect(report.crashes.length).toBeGreaterThan(0);
    expect(report.crashFailures).toEqual([]);
    type Link = { framesDroppedLoss: number; framesDroppedCut: number };
    const dropped = report.links.reduce((n: number, l: Link) => n + l.framesDroppedLoss + l.framesDroppedCut, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(report.keys.length).toBeGreaterThan(5);
    expect(report.keys.every((k: { verdict: string }) => k.verdict === "ok")).toBe(true);
    expect(report.ttl.judged.presentRule + report.ttl.judged.expiredRule).toBeGreaterThan(0);
    expect(report.replicas).toMatchObject({ agreed: true, evictions: 0 });
    expect(report.exits).toEqual([]);
  }, 150_000);
});
