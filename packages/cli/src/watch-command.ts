import type { Command } from "commander";
import type { WatchEvent, WatchPosition } from "@distcache/client";
import { argument, EXIT_OK, option, type CliDeps, type WithClient } from "./command-support.js";
import { displayValue, jsonLine } from "./format.js";
import type { Parsed } from "./parse.js";

interface WatchFlags {
  prefix?: boolean;
  from?: string;
  values?: boolean;
  count?: number;
  json?: boolean;
}

/** A resume token as the CLI prints and reads it: shard:index:ordinal, comma-separated. */
export function formatToken(token: readonly WatchPosition[]): string {
  return token.map((p) => `${p.shard}:${p.index}:${p.ordinal}`).join(",");
}

export function parseToken(text: string): Parsed<WatchPosition[]> {
  const positions: WatchPosition[] = [];
  for (const part of text.split(",")) {
    const match = /^(\d{1,4}):(\d{1,16}):(\d{1,10})$/.exec(part.trim());
    const ordinal = match ? Number(match[3]) : NaN;
    if (!match || ordinal > 0xffffffff) return { ok: false, error: `"${part}" is not shard:index:ordinal (a token that watch --json printed)` };
    positions.push({ shard: Number(match[1]), index: BigInt(match[2]!), ordinal });
  }
  return { ok: true, value: positions };
}

function parseCount(text: string): Parsed<number> {
  const n = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(n) && n >= 1 ? { ok: true, value: n } : { ok: false, error: `must be a whole number >= 1, got "${text}"` };
}

/** One line per event: the kind, the key, then the version and value of a put; with --json, the event and the token after it. */
export function formatWatchEvent(event: WatchEvent, json: boolean): string {
  if (json) {
    const payload = event.text !== undefined ? { text: event.text } : event.value !== undefined ? { value: event.value } : {};
    return jsonLine({ type: event.type, key: event.key, version: event.version, ...payload, position: event.position, resume: formatToken(event.resume) });
  }
  const value = event.value !== undefined ? `\t${displayValue({ value: event.value, text: event.text, version: event.version, ttlRemainingMs: 0 })}` : "";
  return `${event.type.toUpperCase()}\t${event.key}${event.type === "put" ? `\tversion=${event.version}` : ""}${value}\n`;
}

export function addWatchCommand(program: Command, deps: CliDeps, withClient: WithClient): void {
  program
    .command("watch <key>")
    .description("print each committed change of a key (or, with --prefix, of every key it starts), until interrupted or --count events")
    .option("--prefix", 'watch every key that starts with <key> ("" for every key)')
    .option("--from <token>", "resume after a token that --json printed (shard:index:ordinal,...)")
    .option("--values", "print each put's value")
    .option("--count <n>", "exit after this many events", option(parseCount))
    .option("--json", "print one JSON object per event, with the resume token after it")
    .action((key: string, opts: WatchFlags, command: Command) => {
      const from = opts.from === undefined ? undefined : argument("--from", parseToken(opts.from));
      return withClient(command, async (client) => {
        const watch = client.watch(key, { prefix: opts.prefix === true, from, withValues: opts.values === true });
        let seen = 0;
        for await (const event of watch) {
          deps.stdout(formatWatchEvent(event, opts.json === true));
          if (opts.count !== undefined && ++seen >= opts.count) break;
        }
        return EXIT_OK;
      });
    });
}
