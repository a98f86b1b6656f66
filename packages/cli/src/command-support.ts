import { InvalidArgumentError as UsageError, type Command } from "commander";
import type { CacheClient } from "@distcache/client";
import type { Parsed } from "./parse.js";

/** Exit codes: the contract scripts rely on. */
export const EXIT_OK = 0;
export const EXIT_NOT_FOUND = 1;
export const EXIT_USAGE = 2;
export const EXIT_SERVER_ERROR = 3;

export interface CliDeps {
  /** Makes the SDK client; main.ts passes createNodeCacheClient. */
  connect: (options: { endpoints: string[]; timeoutMs: number }) => CacheClient;
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs body with a connected client, closing it afterwards; body resolves with the exit code. */
export type WithClient = (command: Command, body: (client: CacheClient) => Promise<number>) => Promise<void>;

/** Adapts a never-throwing parser to commander, which reports a thrown error as a usage error. */
export function option<T>(parse: (text: string) => Parsed<T>): (text: string) => T {
  return (text) => {
    const parsed = parse(text);
    if (!parsed.ok) throw new UsageError(parsed.error);
    return parsed.value;
  };
}

/** A usage error found after parsing (for example a bad DISTCACHE_ENDPOINTS). */
export class LateUsageError extends Error {}

/** The value of a parsed argument, or a usage error naming it. */
export function argument<T>(name: string, parsed: Parsed<T>): T {
  if (!parsed.ok) throw new LateUsageError(`${name}: ${parsed.error}`);
  return parsed.value;
}
