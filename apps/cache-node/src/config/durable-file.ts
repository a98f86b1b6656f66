import { open, rename, rm } from "node:fs/promises";
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
