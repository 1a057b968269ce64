import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/**
 * CPU time of processes, read from Linux's /proc (user + system, every thread, in ms), so a bench can
 * say how much CPU each side spent per request without touching the process it measures. Elsewhere
 * (no /proc) every figure is null and the bench prints "-".
 */

/** Clock ticks per second of /proc's utime/stime (almost always 100). */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, ms. */
  readonly cpuMs: number;
}

function stat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** CPU ms spent so far by process `pid`, or null when it cannot be read. */
export function processCpuMs(pid: number): number | null {
  return stat(pid)?.cpuMs ?? null;
}

/**
 * CPU ms spent so far by `pid` and by each of its direct children (a Postgres postmaster's backends and
 * background workers), keyed by process id, or null when `pid` cannot be read. Compare two readings
 * with `cpuMsBetween`.
 */
export function processTreeCpuMs(pid: number): Map<number, number> | null {
  const root = stat(pid);
  if (!root) return null;
  const out = new Map([[pid, root.cpuMs]]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = stat(Number(entry));
    if (child?.ppid === pid) out.set(child.pid, child.cpuMs);
  }
  return out;
}

/**
 * CPU ms the processes of `after` spent since `before`: a process that started in between counts
 * whole, one that ended in between (an idle pooled connection closed) is left out, its time unknown.
 */
export function cpuMsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}
