import { readFileSync } from "node:fs";

/** Linux reports process CPU times in clock ticks of USER_HZ, 100 per second on every architecture. */
const USER_HZ = 100;

/**
 * A process's parent and the CPU seconds it has used so far (user + system, all its threads),
 * from `/proc/<pid>/stat`; null when that cannot be read (no `/proc`, or the process is gone).
 */
export function processStat(pid: number): { ppid: number; cpuSeconds: number } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // Fields after the parenthesised command name: ppid is the 2nd, utime and stime the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / USER_HZ };
}
