import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const helper = fileURLToPath(new URL("./exit-flushed.mjs", import.meta.url));

/** Runs a script that writes `lines` lines and then exits by `exit`, read through a pipe that takes its time. */
function runSlowlyRead(exit: string, lines: number): Promise<{ code: number | null; output: string }> {
  const script = `import { exitFlushed } from ${JSON.stringify(helper)};
for (let i = 0; i < ${lines}; i++) console.log("line " + i + " " + "x".repeat(100));
console.log("LAST LINE");
${exit}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const output: string[] = [];
    child.stdout.on("data", (chunk) => {
      output.push(String(chunk));
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 2);
    });
    child.on("close", (code) => resolve({ code, output: output.join("") }));
  });
}

describe("exitFlushed", () => {
  it("exits with the code once a slow pipe took every line", async () => {
    const { code, output } = await runSlowlyRead("await exitFlushed(3);", 3000);
    expect(code).toBe(3);
    expect(output).toContain("line 2999 ");
    expect(output.trimEnd().endsWith("LAST LINE")).toBe(true);
  });
});
