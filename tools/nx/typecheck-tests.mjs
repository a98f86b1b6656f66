#!/usr/bin/env node
// Type-checks the tests and test helpers of one Nx project, with the compiler options and
// the file list of tsconfig.test.json (the package builds leave them out), against the
// built declarations of the workspace packages.
//
//   node tools/nx/typecheck-tests.mjs              the files under the current directory's project
//   node tools/nx/typecheck-tests.mjs DIR          the files under DIR (a package, or "." for the
//                                                  files under no package: tools/, root configs)
//
// Every file tsconfig.test.json lists belongs to exactly one project, so the typecheck
// targets of all projects together check what `tsc -p tsconfig.test.json` checks.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const workspaceRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The directories of the workspace packages (relative, "/"-separated), from the root package.json. */
export function packageRoots(root = workspaceRoot) {
  const { workspaces } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  return workspaces.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) throw new Error(`unsupported workspaces pattern ${pattern}`);
    const parent = pattern.slice(0, -2);
    return readdirSync(path.join(root, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(path.join(root, parent, entry.name, "package.json")))
      .map((entry) => `${parent}/${entry.name}`);
  });
}

/** The project a workspace-relative file belongs to: its package's directory, or "." for none. */
export function projectOf(file, roots) {
  return roots.find((root) => file.startsWith(`${root}/`)) ?? ".";
}

/** The files of tsconfig.test.json, workspace-relative, with the parsed compiler options. */
export function testConfig(root = workspaceRoot) {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, "tsconfig.test.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
      },
    },
  );
  if (parsed === undefined) throw new Error("cannot read tsconfig.test.json");
  const files = parsed.fileNames.map((file) => path.relative(root, file).split(path.sep).join("/"));
  return { parsed, files };
}

function main() {
  const project =
    path
      .relative(workspaceRoot, path.resolve(process.argv[2] ?? process.cwd()))
      .split(path.sep)
      .join("/") || ".";
  const roots = packageRoots();
  if (project !== "." && !roots.includes(project)) throw new Error(`${project} is not a workspace package`);
  const { parsed, files } = testConfig();
  const mine = files.filter((file) => projectOf(file, roots) === project);
  if (mine.length === 0) {
    console.log(`typecheck: no tests or test helpers under ${project}`);
    return;
  }
  const program = ts.createProgram({
    rootNames: mine.map((file) => path.join(workspaceRoot, file)),
    options: parsed.options,
    projectReferences: parsed.projectReferences,
  });
  const diagnostics = [...parsed.errors, ...ts.getPreEmitDiagnostics(program)];
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => "\n" };
  if (diagnostics.length > 0) {
    const format = process.stdout.isTTY ? ts.formatDiagnosticsWithColorAndContext : ts.formatDiagnostics;
    process.stdout.write(format(diagnostics, host));
    console.error(`typecheck: ${diagnostics.length} error(s) in the tests of ${project}`);
    process.exitCode = 1;
    return;
  }
  console.log(`typecheck: ${mine.length} test file(s) and helpers under ${project} type-check`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
