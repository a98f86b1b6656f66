import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain ESM script, without declarations
import { xmlProblems } from "../report/well-formed.mjs";

const BENCH = fileURLToPath(new URL("../bench.mjs", import.meta.url));
const outDir = mkdtempSync(join(tmpdir(), "distcache-bench-smoke-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

interface Run {
  mode: string;
  targets: Record<string, { label?: string; version?: string; skipped?: string }>;
  workloads: { id: string; tool?: string }[];
  results: Record<string, Record<string, { opsPerSecond: number; latencyUs: Record<string, number | null>; cpuUsPerOp: number | null; rounds: unknown[] }>>;
  checks: { ok: boolean; fatal?: boolean; what: string }[];
  memory?: { targets: Record<string, { rssBytesPerKey: number }>; restart?: { seconds: number } };
  hitRatio?: { rows: unknown[] };
  failover?: { targets: Record<string, { kills: number; medianMs: number }> };
}

function runBench(): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BENCH, "--smoke", "--out-dir", outDir], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += String(chunk)));
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}

describe("npm run bench -- --smoke", () => {
  it("starts every target, measures each workload on each, and writes well-formed JSON, Markdown and SVG charts", async () => {
    const { code, stderr } = await runBench();
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/\[\d+\/\d+\] round 1/);
    const run = JSON.parse(readFileSync(join(outDir, "latest.json"), "utf8")) as Run;
    expect(run.mode).toBe("smoke");
    const ran = Object.entries(run.targets).filter(([, t]) => !t.skipped);
    // Under CI every target is installed: a missing one fails the run above.
    if (process.env["CI"] === "true") expect(ran.map(([n]) => n).sort()).toEqual(["ceiling-connect", "ceiling-http", "distcache", "etcd", "redis"]);
    expect(ran.map(([n]) => n)).toContain("distcache");
    for (const workload of run.workloads) {
      // wrk posts JSON to distcache and etcd only.
      for (const [name] of ran.filter(([n]) => workload.tool !== "wrk" || n === "distcache" || n === "etcd")) {
        const entry = run.results[workload.id]?.[name];
        expect(entry, `${workload.id} on ${name}`).toBeDefined();
        expect(entry!.opsPerSecond).toBeGreaterThan(0);
        expect(entry!.latencyUs["p99"]).toBeGreaterThan(0);
        expect(entry!.rounds).toHaveLength(1);
      }
    }
    expect(run.checks.filter((c) => c.fatal && !c.ok)).toEqual([]);
    const files = readdirSync(outDir);
    const svgs = files.filter((f) => f.endsWith(".svg"));
    expect(svgs.sort()).toEqual(["concurrency-sweep.svg", "cpu-per-op.svg", "hit-ratio.svg", "latency.svg", "throughput.svg"]);
    for (const svg of svgs) expect((xmlProblems as (t: string) => { problems: string[] })(readFileSync(join(outDir, svg), "utf8")).problems, svg).toEqual([]);
    const md = readFileSync(join(outDir, "latest.md"), "utf8");
    expect(md).toContain("| target | ops/s |");
    expect(md).toContain("![throughput](throughput.svg)");
    // The memory measurement and the restart ran, at the smoke run's few keys.
    expect(run.memory?.targets["distcache"]?.rssBytesPerKey).toBeGreaterThan(0);
    expect(run.memory?.restart?.seconds).toBeGreaterThan(0);
    expect(run.hitRatio?.rows.length).toBeGreaterThan(0);
    // One leader kill each: a write was acknowledged after it.
    for (const [name] of ran.filter(([n]) => n === "distcache" || n === "etcd")) {
      expect(run.failover?.targets[name]?.kills, name).toBe(1);
      expect(run.failover?.targets[name]?.medianMs, name).toBeGreaterThanOrEqual(0);
    }
  }, 240_000);
});
