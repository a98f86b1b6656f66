import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { EvictionPolicy } from "./eviction-order.js";
import { Store } from "./store.js";

// Data-driven golden traces of eviction: each block is a script of commands, a
// "----" line, and the expected output. UPDATE_GOLDEN=1 rewrites the expectations
// (review the diff!). Commands:
//   store policy=P entriesMax=N [bytesMax=N] [lfuHalvingIntervalAccesses=N] [sweepKeysMax=N] [seed=N]
//   at T                      set the clock (Unix ms) for the following commands
//   set K... [ttl=MS] [value=TEXT]
//   touch K...  |  delete K  |  incr K DELTA  |  sweep
//   configure [policy=P] [entriesMax=N] [bytesMax=N]
//   order                     print the eviction order (first victim first), with LFU counts
const GOLDEN_PATH = fileURLToPath(new URL("./testdata/eviction-traces.txt", import.meta.url));

interface Block {
  readonly script: string[];
  readonly expected: string[];
}

function parseBlocks(text: string): Block[] {
  return text
    .split(/\n\s*\n/)
    .map((chunk) => chunk.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#")))
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const separator = lines.indexOf("----");
      return { script: lines.slice(0, separator), expected: lines.slice(separator + 1) };
    });
}

function options(words: readonly string[]): Record<string, string> {
  return Object.fromEntries(words.filter((word) => word.includes("=")).map((word) => word.split("=") as [string, string]));
}

class Runner {
  private store = new Store();
  private nowMs = 1_000;

  run(line: string): string[] {
    const [command = "", ...words] = line.trim().split(/\s+/);
    const named = options(words);
    const keys = words.filter((word) => !word.includes("="));
    switch (command) {
      case "store":
        this.store = new Store({
          policy: (named.policy ?? "lru") as EvictionPolicy,
          ...Object.fromEntries(
            ["entriesMax", "bytesMax", "lfuHalvingIntervalAccesses", "sweepKeysMax", "seed"]
              .filter((name) => named[name] !== undefined)
              .map((name) => [name, Number(named[name])]),
          ),
        });
        return [];
      case "at":
        this.nowMs = Number(keys[0]);
        return [];
      case "set":
        return keys.map((key) => this.set(key, named));
      case "touch":
        this.store.touch(keys, this.nowMs);
        return [];
      case "delete":
        return [`delete ${keys[0]}: ${this.store.delete(keys[0] as string, this.nowMs)}`];
      case "incr": {
        const result = this.store.incr(keys[0] as string, BigInt(keys[1] as string), this.nowMs);
        return [`incr ${keys[0]}: ${result.ok ? `${result.value} v${result.version} evicted [${result.evicted.join(" ")}]` : result.reason}`];
      }
      case "sweep":
        return [`sweep: ${this.store.sweep(this.nowMs)} expired`];
      case "configure": {
        const evicted = this.store.configure(
          {
            ...(named.policy === undefined ? {} : { policy: named.policy as EvictionPolicy }),
            ...(named.entriesMax === undefined ? {} : { entriesMax: Number(named.entriesMax) }),
            ...(named.bytesMax === undefined ? {} : { bytesMax: Number(named.bytesMax) }),
          },
          this.nowMs,
        );
        return [`configure: evicted [${evicted.join(" ")}]`];
      }
      case "order":
        return [
          `order: ${this.store
            .orderedEntries()
            .map(({ key, frequency }) => (this.store.options.policy === "lfu" ? `${key}(${frequency})` : key))
            .join(" ")}`,
        ];
      default:
        throw new Error(`unknown command ${command}`);
    }
  }

  private set(key: string, named: Record<string, string>): string {
    const expireAtMs = named.ttl === undefined ? 0 : this.nowMs + Number(named.ttl);
    const result = this.store.set(key, new TextEncoder().encode(named.value ?? "v"), { text: true, expireAtMs }, this.nowMs);
    return `set ${key}: ${result.ok ? `v${result.version} evicted [${result.evicted.join(" ")}]` : result.reason}`;
  }
}

function render(blocks: readonly Block[], outputs: readonly string[][]): string {
  return blocks.map((block, index) => [...block.script, "----", ...(outputs[index] ?? [])].join("\n")).join("\n\n") + "\n";
}

describe("golden eviction traces", () => {
  const text = readFileSync(GOLDEN_PATH, "utf8");
  const header = text.slice(0, text.search(/^[^#\n]/m));
  const blocks = parseBlocks(text);
  const outputs = blocks.map((block) => {
    const runner = new Runner();
    return block.script.flatMap((line) => runner.run(line));
  });

  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(GOLDEN_PATH, header + render(blocks, outputs));

  it.each(blocks.map((block, index) => [block.script[0] ?? "", index] as const))("%s (#%i)", (_first, index) => {
    expect(outputs[index]).toEqual(blocks[index]?.expected);
  });
});
