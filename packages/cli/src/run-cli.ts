import { Command, CommanderError } from "commander";
import type { CacheClient } from "@distcache/client";
import { addClusterCommands, addTransferLeaderCommand } from "./cluster-commands.js";
import { addWatchCommand } from "./watch-command.js";
import { EXIT_NOT_FOUND, EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, LateUsageError, option, type CliDeps, type WithClient } from "./command-support.js";
import { formatCounter, formatDeleted, formatError, formatGet, formatMget, formatStats, formatStoreSettings, formatTopology, formatVersion } from "./format.js";
import {
  ENDPOINTS_ENV,
  DEFAULT_ENDPOINT,
  TIMEOUT_MS_MAX,
  parseBound,
  parseDelta,
  parseEndpoints,
  parseMilliseconds,
  parsePolicy,
  parseShard,
  parseVersion,
  resolveEndpoints,
  type EvictionPolicyName,
} from "./parse.js";

export { EXIT_NOT_FOUND, EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE } from "./command-support.js";
export type { CliDeps } from "./command-support.js";

interface GlobalOptions {
  endpoints?: string[];
  timeoutMs: number;
}

/**
 * Runs the distcache command with argv (without "node" and the script) and resolves
 * with the exit code. All I/O goes through deps, so tests run it in-process.
 */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram(deps, (c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    deps.stderr(formatError(err));
    return err instanceof LateUsageError ? EXIT_USAGE : EXIT_SERVER_ERROR;
  }
}

function buildProgram(deps: CliDeps, setCode: (code: number) => void): Command {
  const program = new Command("distcache")
    .description("Reads and writes a distcache cluster.")
    .exitOverride()
    .configureOutput({ writeOut: deps.stdout, writeErr: deps.stderr })
    .showHelpAfterError("(run with --help for usage)")
    .option("--endpoints <urls>", `comma-separated node URLs (default: $${ENDPOINTS_ENV} or ${DEFAULT_ENDPOINT})`, option(parseEndpoints))
    .option(
      "--timeout-ms <ms>",
      "deadline of the command, retries included",
      option((t) => parseMilliseconds(t, 1, TIMEOUT_MS_MAX)),
      5000,
    );

  /** Runs body with a connected client, closing it afterwards. */
  const withClient = async (command: Command, body: (client: CacheClient) => Promise<number>): Promise<void> => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const endpoints = resolveEndpoints(globals.endpoints, deps.env);
    if (!endpoints.ok) throw new LateUsageError(endpoints.error);
    const client = deps.connect({ endpoints: endpoints.value, timeoutMs: globals.timeoutMs });
    try {
      setCode(await body(client));
    } finally {
      await client.close();
    }
  };
  addKeyCommands(program, deps, withClient);
  addBatchAndClusterCommands(program, deps, withClient);
  addClusterCommands(program, deps, withClient);
  addWatchCommand(program, deps, withClient);
  return program;
}

function addBatchAndClusterCommands(program: Command, deps: CliDeps, withClient: WithClient): void {
  program
    .command("mget <keys...>")
    .description("print several keys' values, one line each")
    .option("--eventual", "read the local replicas (may be stale)")
    .option("--json", "print JSON")
    .action((keys: string[], opts: { eventual?: boolean; json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        deps.stdout(formatMget(keys, await client.mget(keys, { consistency: opts.eventual ? "eventual" : "strong" }), opts.json === true));
        return EXIT_OK;
      }),
    );
  program
    .command("stats")
    .description("print every node's counters")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        const stats = await client.stats();
        deps.stdout(formatStats(stats, opts.json === true));
        if (stats.nodes.length > 0) return EXIT_OK;
        deps.stderr("error: no node answered Stats\n");
        return EXIT_SERVER_ERROR;
      }),
    );
  program
    .command("topology")
    .description("print nodes, shards and their leaders")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        deps.stdout(formatTopology(await client.topology(), opts.json === true));
        return EXIT_OK;
      }),
    );
  addTransferLeaderCommand(program, deps, withClient);
  program
    .command("configure")
    .description("change shards' eviction policy and bounds through their logs (every shard unless --shard) and print the settings in force")
    .option("--shard <n>", "a shard to change (repeat for several; default: every shard)", (text: string, previous: number[] = []) => [
      ...previous,
      option(parseShard)(text),
    ])
    .option("--policy <policy>", "eviction policy: lru, lfu, fifo or random", option(parsePolicy))
    .option("--entries-max <n>", "most keys per shard", option(parseBound))
    .option("--bytes-max <n>", "most accounted bytes per shard", option(parseBound))
    .option("--json", "print JSON")
    .action((opts: ConfigureFlags, command: Command) =>
      withClient(command, async (client) => {
        const settings = await client.configureStore({ shards: opts.shard, policy: opts.policy, entriesMax: opts.entriesMax, bytesMax: opts.bytesMax });
        deps.stdout(formatStoreSettings(settings, opts.json === true));
        return EXIT_OK;
      }),
    );
}

interface ConfigureFlags {
  shard?: number[];
  policy?: EvictionPolicyName;
  entriesMax?: bigint;
  bytesMax?: bigint;
  json?: boolean;
}

interface SetFlags {
  ttlMs?: number;
  ifAbsent?: boolean;
  ifVersion?: bigint;
  json?: boolean;
}

function addKeyCommands(program: Command, deps: CliDeps, withClient: WithClient): void {
  program
    .command("get <key>")
    .description("print a key's value (exit code 1 when absent)")
    .option("--eventual", "read the local replica of the node (may be stale)")
    .option("--json", "print JSON")
    .action((key: string, opts: { eventual?: boolean; json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        const result = await client.get(key, { consistency: opts.eventual ? "eventual" : "strong" });
        deps.stdout(formatGet(key, result, opts.json === true));
        if (!result && !opts.json) deps.stderr(`(not found: ${key})\n`);
        return result ? EXIT_OK : EXIT_NOT_FOUND;
      }),
    );
  program
    .command("set <key> <value>")
    .description("write a key (the value is stored as text) and print its new version")
    .option(
      "--ttl-ms <ms>",
      "expire after this many milliseconds",
      option((t) => parseMilliseconds(t, 0, Number.MAX_SAFE_INTEGER)),
    )
    .option("--if-absent", "write only if the key does not exist")
    .option("--if-version <version>", "write only if the key is at this version (0: absent)", option(parseVersion))
    .option("--json", "print JSON")
    .action((key: string, value: string, opts: SetFlags, command: Command) => {
      if (opts.ifAbsent && opts.ifVersion !== undefined) throw new LateUsageError("--if-absent and --if-version cannot be combined");
      return withClient(command, async (client) => {
        const version = await client.set(key, value, { ttlMs: opts.ttlMs, ifAbsent: opts.ifAbsent, ifVersion: opts.ifVersion });
        deps.stdout(formatVersion(key, version, opts.json === true));
        return EXIT_OK;
      });
    });
  program
    .command("del <keys...>")
    .description("delete keys and print how many existed")
    .option("--json", "print JSON")
    .action((keys: string[], opts: { json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        const deleted = keys.length === 1 ? Number(await client.delete(keys[0]!)) : await client.mdelete(keys);
        deps.stdout(formatDeleted(deleted, opts.json === true));
        return EXIT_OK;
      }),
    );
  program
    .command("incr <key> [delta]")
    .description("add delta (default 1, may be negative) to a 64-bit counter and print the result")
    .option("--json", "print JSON")
    .action((key: string, delta: string | undefined, opts: { json?: boolean }, command: Command) => {
      const parsed = parseDelta(delta ?? "1");
      if (!parsed.ok) throw new LateUsageError(`delta: ${parsed.error}`);
      return withClient(command, async (client) => {
        deps.stdout(formatCounter(key, await client.incr(key, parsed.value), opts.json === true));
        return EXIT_OK;
      });
    });
}
