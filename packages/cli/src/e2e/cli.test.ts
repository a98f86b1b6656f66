import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { NODE_MAIN, startNode, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

/*
 * The built `distcache` command as a child process against a real single node. Runs
 * only when both are built (the root `npm test` builds first); the node is killed by
 * PID in afterAll.
 */

const CLI_MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const built = existsSync(CLI_MAIN) && existsSync(NODE_MAIN as string);
const dataDir = mkdtempSync(join(tmpdir(), "distcache-cli-e2e-"));
let node: { pid: number; url: string } | undefined;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!built)("distcache command against a real node", () => {
  beforeAll(async () => {
    node = (await startNode({ nodeId: "n1", dataDir })) as { pid: number; url: string };
  }, 20_000);

  afterAll(async () => {
    if (node) await stopNode(node, "SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("sets, gets, counts, deletes and reports, with the documented exit codes", async () => {
    const url = node!.url;
    expect(await cli(["--endpoints", url, "set", "greeting", "hello world"])).toMatchObject({ code: 0, stdout: "1\n" });
    // Endpoints may also come from the environment.
    expect(await cli(["get", "greeting"], { DISTCACHE_ENDPOINTS: url })).toEqual({ code: 0, stdout: "hello world\n", stderr: "" });
    const json = await cli(["get", "greeting", "--json", "--eventual", "--endpoints", url]);
    expect(JSON.parse(json.stdout)).toEqual({ key: "greeting", found: true, text: "hello world", version: "1", ttlRemainingMs: 0 });
    expect(await cli(["get", "absent", "--endpoints", url])).toMatchObject({ code: 1, stdout: "" });
    const exists = await cli(["set", "greeting", "again", "--if-absent", "--endpoints", url]);
    expect([exists.code, exists.stderr]).toEqual([3, expect.stringMatching(/already exists.*KeyExistsError/)]);
    expect(await cli(["incr", "hits", "-3", "--endpoints", url])).toMatchObject({ code: 0, stdout: "-3\n" });
    expect(await cli(["mget", "greeting", "hits", "absent", "--endpoints", url])).toMatchObject({
      code: 0,
      stdout: "greeting\thello world\nhits\t-3\nabsent\t(not found)\n",
    });
    expect(await cli(["del", "greeting", "hits", "absent", "--endpoints", url])).toMatchObject({ code: 0, stdout: "2\n" });
    const stats = await cli(["stats", "--json", "--endpoints", url]);
    expect(JSON.parse(stats.stdout)).toMatchObject({ nodes: [{ nodeId: "n1" }], unreachable: [] });
    expect(await cli(["set", "k", "--endpoints", url])).toMatchObject({ code: 2 });
  }, 20_000);

  it("exits 3 with a message when no node answers", async () => {
    const r = await cli(["get", "k", "--endpoints", "http://127.0.0.1:1", "--timeout-ms", "300"]);
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/^error: .*ECONNREFUSED.*\(UnavailableError\)/)]);
  });
});
