// Runs tools/chaos/chaos.mjs as a child process for the tests in this folder, and stops
// it (it stops its nodes by PID on SIGINT) if a test ends while it still runs.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const harness = fileURLToPath(new URL("../chaos.mjs", import.meta.url));

export interface HarnessRun {
  code: number | null;
  output: string;
}

export class HarnessRunner {
  private child: ChildProcess | undefined;

  run(args: readonly string[]): Promise<HarnessRun> {
    return new Promise((resolve) => {
      const output: string[] = [];
      const child = spawn(process.execPath, [harness, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      this.child = child;
      child.stdout!.on("data", (d) => output.push(String(d)));
      child.stderr!.on("data", (d) => output.push(String(d)));
      // "close", not "exit": the output may still be arriving when the process exits.
      child.on("close", (code) => resolve({ code, output: output.join("") }));
    });
  }

  /** Stops a run still going: SIGINT, then SIGKILL after 20 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }
}
