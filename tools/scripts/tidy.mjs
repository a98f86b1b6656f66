#!/usr/bin/env node
// Checks what review keeps catching, over every tracked source file (generated code aside):
//   - lines of at most LINE_LENGTH_MAX characters;
//   - functions of at most FUNCTION_LINES_MAX lines, in the packages' and the server's
//     sources (tests, whose describe blocks are lists of cases, are exempt);
//   - no declared name built on a banned abbreviation (msg, cfg, idx, ...).
//
//   node tools/scripts/tidy.mjs          checks the repository
//   node tools/scripts/tidy.mjs FILE...  checks these files
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const LINE_LENGTH_MAX = 160;
export const FUNCTION_LINES_MAX = 70;

/** Abbreviations a declared name may not use as one of its words, with the word to write instead. */
export const BANNED_ABBREVIATIONS = {
  msg: "message",
  msgs: "messages",
  cfg: "config",
  idx: "index",
  tmp: "a name for what it holds",
  cnt: "count",
  ptr: "pointer",
  mgr: "manager",
  num: "count or number",
  resp: "response",
  buf: "buffer or bytes",
  cmd: "command",
  val: "value",
  str: "text or string",
  arr: "a name for what it holds",
  obj: "a name for what it holds",
  calc: "compute",
};

/** Field names of formats defined elsewhere, which a type describing them must spell their way. */
export const EXTERNAL_FIELDS = {
  msg: "the message field of a pino log record",
};

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const isTest = (file) => /\.test\.m?ts$/.test(file);
const isProductSource = (file) => /^(packages|apps)\/[^/]+\/src\//.test(file) && /\.ts$/.test(file) && !isTest(file);

/** The words of an identifier: camelCase, PascalCase and SNAKE_CASE parts, lower-cased. */
export function wordsOf(name) {
  return (name.match(/[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+/g) ?? []).map((word) => word.toLowerCase());
}

function lineOf(source, position) {
  return source.getLineAndCharacterOfPosition(position).line + 1;
}

/** The names a node declares: variables, functions, classes, members, parameters, types. */
function declaredName(node) {
  if (
    ts.isVariableDeclaration(node) ||
    ts.isFunctionDeclaration(node) ||
    ts.isClassDeclaration(node) ||
    ts.isInterfaceDeclaration(node) ||
    ts.isTypeAliasDeclaration(node) ||
    ts.isEnumDeclaration(node) ||
    ts.isEnumMember(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isPropertyDeclaration(node) ||
    ts.isPropertySignature(node) ||
    ts.isParameter(node) ||
    ts.isBindingElement(node)
  ) {
    return node.name && ts.isIdentifier(node.name) ? node.name : undefined;
  }
  return undefined;
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** The problems of one file, as "path:line: what" lines. `file` is relative to the repository. */
export function tidyProblems(file, text) {
  const problems = [];
  text.split("\n").forEach((line, i) => {
    if (line.length > LINE_LENGTH_MAX) problems.push(`${file}:${i + 1}: line of ${line.length} characters (at most ${LINE_LENGTH_MAX})`);
  });
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith(".ts") ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const checkLength = isProductSource(file);
  const visit = (node) => {
    const name = declaredName(node);
    const external = name && ts.isPropertySignature(node) && Object.hasOwn(EXTERNAL_FIELDS, name.text);
    if (name && !external) {
      for (const word of wordsOf(name.text)) {
        const instead = BANNED_ABBREVIATIONS[word];
        if (instead) problems.push(`${file}:${lineOf(source, name.getStart())}: "${name.text}" abbreviates "${word}" (write ${instead})`);
      }
    }
    if (checkLength && isFunctionLike(node) && node.body && ts.isBlock(node.body)) {
      const lines = lineOf(source, node.body.end) - lineOf(source, node.body.getStart()) + 1;
      if (lines > FUNCTION_LINES_MAX)
        problems.push(`${file}:${lineOf(source, node.getStart())}: function of ${lines} lines (at most ${FUNCTION_LINES_MAX}): split it`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}

/** The tracked TypeScript and JavaScript sources the checks cover. */
export function trackedSources() {
  const listed = execFileSync("git", ["ls-files", "*.ts", "*.mjs", "*.js"], { cwd: repoRoot, encoding: "utf8" });
  return listed.split("\n").filter((file) => file !== "" && !file.includes("/gen/") && !file.endsWith(".d.ts") && !file.endsWith(".d.mts"));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const files = args.length > 0 ? args.map((file) => path.relative(repoRoot, path.resolve(file))) : trackedSources();
  const problems = files.flatMap((file) => tidyProblems(file, readFileSync(path.join(repoRoot, file), "utf8")));
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`tidy: ${problems.length} problem(s)`);
    process.exit(1);
  }
}
