// `--load`: busy loops in child processes on every core for the whole run, so the system is
// tested on a machine that is busy (where last round's fleet died on a PostgreSQL termination
// wave). Each loop's CPU time is read back from /proc, so the report proves the load was there,
// and the host's steal time is read from /proc/stat (on a shared VM the neighbours take more).
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Busy loops running until `stop`. */
export interface CpuLoad {
  readonly processes: number;
  readonly pids: readonly number[];
  /** Kills the loops; what they used, how many were still running, and the host's steal. */
  stop(): { cpu_seconds: number; alive: number; steal_percent: number };
}

/** One busy loop per core (at normal priority: they compete with the bots as any busy neighbour does). */
export function startCpuLoad(processes = availableParallelism()): CpuLoad {
  const children: ChildProcess[] = [];
  for (let i = 0; i < processes; i++)
    children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  const before = hostTicks();
  let result: ReturnType<CpuLoad['stop']> | undefined;
  return {
    processes,
    pids: children.flatMap((child) => (child.pid === undefined ? [] : [child.pid])),
    stop() {
      if (result) return result;
      const seconds = children.reduce((sum, child) => sum + (readStat(child.pid)?.seconds ?? 0), 0);
      const alive = children.filter((child) => child.exitCode === null && child.signalCode === null).length;
      for (const child of children) child.kill('SIGKILL');
      const after = hostTicks();
      const total = after.total - before.total;
      result = {
        cpu_seconds: Math.round(seconds * 10) / 10,
        alive,
        steal_percent: total > 0 ? Math.round(((after.steal - before.steal) / total) * 1000) / 10 : 0,
      };
      return result;
    },
  };
}

/** The command name and utime + stime of `pid`, from /proc (undefined where it is missing or gone). */
function readStat(pid: number | string | undefined): { name: string; seconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after "pid (comm) ", utime and stime are the 12th and 13th fields, in clock ticks (100/s on Linux)
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    return {
      name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      seconds: (Number(fields[11]) + Number(fields[12])) / 100,
    };
  } catch {
    return undefined;
  }
}

/** All CPUs' ticks from /proc/stat's first line, and the steal among them (zeros where it is missing). */
function hostTicks(): { total: number; steal: number } {
  try {
    const ticks = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice (guest is counted in user)
    return { total: ticks.slice(0, 8).reduce((a, b) => a + b, 0), steal: ticks[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}

/** CPU seconds (utime + stime) of every process now visible in /proc, with its command name. */
export function processCpu(): Map<number, { name: string; seconds: number }> {
  const all = new Map<number, { name: string; seconds: number }>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return all;
  }
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) all.set(Number(pid), stat);
  }
  return all;
}

/**
 * Where the CPU went between two `processCpu` snapshots, summed by label (`label` names the
 * processes it knows, the rest go by command name), most first. A process that exited in
 * between is not counted.
 */
export function cpuByLabel(
  before: ReadonlyMap<number, { name: string; seconds: number }>,
  after: ReadonlyMap<number, { name: string; seconds: number }>,
  label: (pid: number) => string | undefined,
): Array<{ label: string; seconds: number }> {
  const sums = new Map<string, number>();
  for (const [pid, now] of after) {
    const then = before.get(pid); // a reused pid runs another command: all its time is new
    const used = now.seconds - (then?.name === now.name ? then.seconds : 0);
    if (used <= 0) continue;
    const key = label(pid) ?? now.name;
    sums.set(key, (sums.get(key) ?? 0) + used);
  }
  return [...sums]
    .map(([key, seconds]) => ({ label: key, seconds: Math.round(seconds * 10) / 10 }))
    .sort((a, b) => b.seconds - a.seconds);
}
