import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InteractionEnv, parseCommand } from "./testing/interaction-env.js";

/**
 * Golden tests: each testdata/*.txt script is a list of blocks
 *
 *   # optional comments
 *   <command> <args> <key=value>...
 *   ----
 *   <expected trace, ended by a blank line>
 *
 * Run with REWRITE=1 to regenerate the expected traces from the current code.
 */
const TESTDATA_DIR = fileURLToPath(new URL("../testdata/", import.meta.url));
const REWRITE = process.env.REWRITE === "1";

interface Block {
  readonly preamble: string[];
  readonly command: string;
  readonly expected: string[];
}

function parseScript(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) {
      preamble.push(line);
      i += 1;
      continue;
    }
    if (lines[i + 1] !== "----") throw new Error(`line ${i + 2}: expected ---- after command "${line}"`);
    const expected: string[] = [];
    i += 2;
    while (i < lines.length && lines[i]!.trim() !== "") expected.push(lines[i++]!);
    blocks.push({ preamble, command: line, expected });
    preamble = [];
  }
  return { blocks, trailer: preamble };
}

const files = readdirSync(TESTDATA_DIR)
  .filter((name) => name.endsWith(".txt"))
  .sort();

describe("raft golden traces", () => {
  it("has scripts", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(file, () => {
      const path = `${TESTDATA_DIR}${file}`;
      const { blocks, trailer } = parseScript(readFileSync(path, "utf8"));
      const env = new InteractionEnv();
      const rewritten: string[] = [];
      for (const block of blocks) {
        const actual = env.handle(parseCommand(block.command));
        rewritten.push(...block.preamble, block.command, "----", ...actual);
        if (!REWRITE) expect(actual.join("\n"), `${file}: ${block.command}`).toBe(block.expected.join("\n"));
      }
      rewritten.push(...(trailer.length > 0 ? trailer : [""]));
      if (REWRITE) writeFileSync(path, rewritten.join("\n"));
    });
  }
});
