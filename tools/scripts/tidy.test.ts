import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FUNCTION_LINES_MAX, LINE_LENGTH_MAX, tidyProblems, trackedSources, wordsOf } from "./tidy.mjs";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

describe("the tidy check", () => {
  it("finds nothing in the repository's sources", () => {
    const problems = trackedSources().flatMap((file) => tidyProblems(file, readFileSync(`${repoRoot}/${file}`, "utf8")));
    expect(problems).toEqual([]);
  });

  it("refuses a line over the limit, and takes one at it", () => {
    const atLimit = `export const a = "${"x".repeat(LINE_LENGTH_MAX - 20)}";`;
    const over = `export const b = "${"x".repeat(LINE_LENGTH_MAX - 19)}";`;
    expect(atLimit.length).toBe(LINE_LENGTH_MAX);
    expect(tidyProblems("packages/ring/src/a.ts", `${atLimit}\n${over}\n`)).toEqual([
      `packages/ring/src/a.ts:2: line of ${LINE_LENGTH_MAX + 1} characters (at most ${LINE_LENGTH_MAX})`,
    ]);
  });

  it("refuses a long function in a package's sources, and not in a test", () => {
    const body = (lines: number) => Array.from({ length: lines - 2 }, (_, i) => `  total += ${i};`).join("\n");
    const fits = `export function fits(): number {\n  let total = 0;\n${body(FUNCTION_LINES_MAX - 1)}\n}\n`;
    const long = `export function tooLong(): number {\n  let total = 0;\n${body(FUNCTION_LINES_MAX)}\n}\n`;
    const method = `export class C {\n  run(): number {\n    let total = 0;\n${body(FUNCTION_LINES_MAX)}\n  }\n}\n`;
    expect(tidyProblems("packages/raft/src/a.ts", fits)).toEqual([]);
    expect(tidyProblems("apps/cache-node/src/a.ts", long)).toEqual([
      `apps/cache-node/src/a.ts:1: function of ${FUNCTION_LINES_MAX + 1} lines (at most ${FUNCTION_LINES_MAX}): split it`,
    ]);
    expect(tidyProblems("packages/store/src/b.ts", method)).toEqual([
      `packages/store/src/b.ts:2: function of ${FUNCTION_LINES_MAX + 1} lines (at most ${FUNCTION_LINES_MAX}): split it`,
    ]);
    expect(tidyProblems("packages/raft/src/a.test.ts", long)).toEqual([]);
  });

  it("refuses declared names built on a banned abbreviation, in every kind of declaration", () => {
    const text = [
      "const msgCount = 1;",
      "function parseCfg(rawIdx: number): number { return rawIdx; }",
      "interface Options { maxInflightMsgs: number }",
      "class TmpHolder { private buf = 0; }",
      "const { cmd } = { cmd: 1 };",
      "export { msgCount, parseCfg, TmpHolder, cmd };",
      "export type { Options };",
    ].join("\n");
    expect(tidyProblems("tools/x.ts", text)).toEqual([
      'tools/x.ts:1: "msgCount" abbreviates "msg" (write message)',
      'tools/x.ts:2: "parseCfg" abbreviates "cfg" (write config)',
      'tools/x.ts:2: "rawIdx" abbreviates "idx" (write index)',
      'tools/x.ts:3: "maxInflightMsgs" abbreviates "msgs" (write messages)',
      'tools/x.ts:4: "TmpHolder" abbreviates "tmp" (write a name for what it holds)',
      'tools/x.ts:4: "buf" abbreviates "buf" (write buffer or bytes)',
      'tools/x.ts:5: "cmd" abbreviates "cmd" (write command)',
    ]);
  });

  it("leaves names of other APIs that the code only uses alone", () => {
    expect(tidyProblems("tools/y.mjs", "fc.assert(property, { numRuns: 10 });\nnet.createServer().maxConnections = 1;\n")).toEqual([]);
    // A type describing a pino log record spells its field as pino does; a variable may not.
    expect(tidyProblems("tools/z.ts", "type Line = { level: number; msg: string };\nconst msg = 1;\n")).toEqual([
      'tools/z.ts:2: "msg" abbreviates "msg" (write message)',
    ]);
  });

  it("splits names into words the way they are written", () => {
    expect(wordsOf("maxInflightMsgs")).toEqual(["max", "inflight", "msgs"]);
    expect(wordsOf("SNAPSHOT_FRAME_BYTES_MAX")).toEqual(["snapshot", "frame", "bytes", "max"]);
    expect(wordsOf("HTTPServer2")).toEqual(["http", "server", "2"]);
  });
});
