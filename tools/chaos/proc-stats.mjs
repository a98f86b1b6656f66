// CPU time and RSS of a process, from /proc/<pid>/stat (Linux).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second (utime and stime are counted in them). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const PAGE_BYTES = (() => {
  try {
    return Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).trim()) || 4096;
  } catch {
    return 4096;
  }
})();

/**
 * A process's CPU seconds (user + system) and resident set, or undefined when it is gone.
 * @param {number} pid
 * @returns {{ cpuSeconds: number, rssBytes: number, state: string } | undefined}
 */
export function readProcStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields restart after the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15, rss field 24.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const rssPages = Number(rest[21]);
  return {
    cpuSeconds: (utime + stime) / CLOCK_TICKS,
    userSeconds: utime / CLOCK_TICKS,
    systemSeconds: stime / CLOCK_TICKS,
    rssBytes: rssPages * PAGE_BYTES,
    state: rest[0],
  };
}
