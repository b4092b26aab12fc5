// `--load`: busy loops in child processes on every core for the whole run, so the system is
// tested on a machine that is busy (where last round's fleet died on a PostgreSQL termination
// wave). Each loop's CPU time is read back from /proc, so the report proves the load was there,
// and the host's steal time is read from /proc/stat (on a shared VM the neighbours take more).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Busy loops running until `stop`. */
export interface CpuLoad {
  readonly processes: number;
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
    stop() {
      if (result) return result;
      const seconds = children.reduce((sum, child) => sum + cpuSeconds(child.pid), 0);
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

/** utime + stime of `pid` from /proc (0 where /proc is missing). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // after "pid (comm) ", utime and stime are the 12th and 13th fields, in clock ticks (100/s on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
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
