import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The workspace root, "/"-terminated. */
export const workspaceRoot = fileURLToPath(new URL("../../", import.meta.url));

const nxBin = join(workspaceRoot, "node_modules/nx/bin/nx.js");

/**
 * Runs the workspace's Nx offline, without the daemon, on a project graph of its own (a fresh
 * workspace-data directory), so it neither reads nor disturbs the graph of an Nx run around
 * it. Returns its standard output.
 */
export function nx(args: readonly string[]): string {
  const dataDir = mkdtempSync(join(tmpdir(), "distcache-nx-"));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("NX_")) env[name] = value;
  }
  Object.assign(env, { NX_DAEMON: "false", NX_NO_CLOUD: "true", NX_TUI: "false", NX_WORKSPACE_DATA_DIRECTORY: dataDir });
  try {
    return execFileSync(process.execPath, [nxBin, ...args], { cwd: workspaceRoot, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The projects whose `target` a change to these workspace-relative files selects. */
export function affectedProjects(files: readonly string[], target: string): string[] {
  const out = nx(["show", "projects", "--affected", `--files=${files.join(",")}`, "-t", target, "--json"]);
  return (JSON.parse(out) as string[]).sort();
}
