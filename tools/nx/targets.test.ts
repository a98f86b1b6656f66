import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { nx, workspaceRoot } from "./nx-cli.js";

interface Target {
  executor: string;
  options: { script?: string };
  inputs?: unknown[];
  outputs?: string[];
  cache?: boolean;
}
interface ProjectNode {
  data: { root: string; targets: Record<string, Target> };
}

const WORKSPACE = "distcache";
/** Which Nx target runs the files of each vitest project. */
const TARGET_OF_VITEST_PROJECT: Record<string, string> = { unit: "test", cluster: "test-cluster" };
const SKIPPED_DIRECTORIES = new Set(["node_modules", "dist", ".git", ".nx", ".data", "coverage"]);

let projects: Record<string, ProjectNode>;
/** vitest's own list: every test file of the unit and cluster projects, workspace-relative. */
let vitestFiles: { file: string; project: string }[];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "distcache-targets-"));
  try {
    nx(["graph", `--file=${join(dir, "graph.json")}`]);
    projects = (JSON.parse(readFileSync(join(dir, "graph.json"), "utf8")) as { graph: { nodes: Record<string, ProjectNode> } }).graph.nodes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const listed = execFileSync(process.execPath, [join(workspaceRoot, "node_modules/vitest/vitest.mjs"), "list", "--filesOnly", "--json"], {
    cwd: workspaceRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  vitestFiles = (JSON.parse(listed) as { file: string; projectName: string }[]).map((entry) => ({
    file: relative(workspaceRoot, entry.file),
    project: entry.projectName,
  }));
}, 60_000);

/** The npm script a target runs, from its project's package.json. */
function scriptOf(projectName: string, targetName: string): string {
  const project = projects[projectName]!;
  const script = project.data.targets[targetName]?.options.script;
  const packageJson = JSON.parse(readFileSync(join(workspaceRoot, project.data.root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  if (script === undefined || packageJson.scripts[script] === undefined) throw new Error(`${projectName}:${targetName} runs no npm script`);
  return packageJson.scripts[script];
}

/** The vitest project and path filters of a `vitest run` script (vitest keeps a file whose relative path contains a filter). */
function vitestSelection(script: string): { project: string; filters: string[] } {
  const words = script.split(/\s+/);
  if (words[0] !== "vitest" || words[1] !== "run") throw new Error(`not a vitest run: ${script}`);
  const filters: string[] = [];
  let project = "";
  for (let at = 2; at < words.length; at += 1) {
    const word = words[at]!;
    if (word === "--project") project = words[++at]!;
    else if (word === "--root") at += 1;
    else if (!word.startsWith("--")) filters.push(word);
  }
  return { project, filters };
}

function testFilesOnDisk(dir = workspaceRoot): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return SKIPPED_DIRECTORIES.has(entry.name) ? [] : testFilesOnDisk(join(dir, entry.name));
    return entry.name.endsWith(".test.ts") ? [relative(workspaceRoot, join(dir, entry.name))] : [];
  });
}

describe("Nx targets", () => {
  it("every package declares build, typecheck, lint and test with inputs and outputs; the workspace all but build", () => {
    for (const [name, project] of Object.entries(projects)) {
      const expected = name === WORKSPACE ? ["typecheck", "lint", "test"] : ["build", "typecheck", "lint", "test"];
      for (const targetName of expected) {
        const target = project.data.targets[targetName];
        expect(target, `${name}:${targetName}`).toBeDefined();
        expect(Array.isArray(target!.inputs) && target!.inputs.length > 0, `${name}:${targetName} declares its inputs`).toBe(true);
        expect(Array.isArray(target!.outputs), `${name}:${targetName} declares its outputs`).toBe(true);
        expect(target!.cache, `${name}:${targetName} is cached`).toBe(true);
      }
    }
  });

  it("never caches the multi-process suites or the long runs", () => {
    const uncached = Object.entries(projects).flatMap(([name, project]) =>
      Object.entries(project.data.targets)
        .filter(([targetName]) => targetName === "test-cluster" || targetName === "test-long")
        .map(([targetName, target]) => ({ task: `${name}:${targetName}`, cache: target.cache ?? false })),
    );
    expect(uncached.length).toBeGreaterThan(0);
    expect(uncached.filter((task) => task.cache)).toEqual([]);
  });

  it("runs every test file exactly once: each is in a vitest project, and one project's target selects it", () => {
    const onDisk = testFilesOnDisk().sort();
    expect(vitestFiles.map((entry) => entry.file).sort()).toEqual(onDisk);
    const selectedBy = new Map<string, string[]>(onDisk.map((file) => [file, []]));
    for (const [name, project] of Object.entries(projects)) {
      for (const [vitestProject, targetName] of Object.entries(TARGET_OF_VITEST_PROJECT)) {
        if (project.data.targets[targetName] === undefined) continue;
        const selection = vitestSelection(scriptOf(name, targetName));
        expect(selection.project, `${name}:${targetName}`).toBe(vitestProject);
        for (const { file } of vitestFiles.filter((entry) => entry.project === vitestProject)) {
          if (selection.filters.some((filter) => file.includes(filter))) selectedBy.get(file)!.push(`${name}:${targetName}`);
        }
      }
    }
    const notOnce = [...selectedBy].filter(([, tasks]) => tasks.length !== 1).map(([file, tasks]) => `${file}: ${tasks.join(", ") || "no task"}`);
    expect(notOnce).toEqual([]);
  });

  it("npm test runs every project's checks and tests, then the multi-process suites; test:long the long runs", () => {
    const scripts = (JSON.parse(readFileSync(join(workspaceRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    expect(scripts["test"]).toBe("nx run-many -t build typecheck lint test && nx run-many -t test-cluster --parallel=1");
    expect(scripts["test:long"]).toBe("nx run-many -t test-long --parallel=1");
  });
});
