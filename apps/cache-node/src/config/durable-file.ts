import { open, readFile, rename, rm } from "node:fs/promises";
import { ConfigError } from "./config-error.js";
import { dirname } from "node:path";

let writes = 0;

/**
 * Replaces the file at `path` with `text`, atomically and durably: a temporary file is
 * written and fsynced, renamed over `path`, and the directory fsynced. After a crash the
 * file holds the old text or the new, never a mix.
 */
export async function writeFileDurably(path: string, text: string): Promise<void> {
  // Its own temporary file, so writers of one path never collide (the last rename wins).
  const temporary = `${path}.${process.pid}.${++writes}.tmp`;
  await rm(temporary, { force: true });
  const file = await open(temporary, "wx");
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The JSON in the file at `path`, or undefined when there is no such file; a ConfigError naming the file otherwise. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}
