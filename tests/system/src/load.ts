// `--load`: busy loops in child processes on every core for the whole run, so the system is
// tested on a machine that is busy (where last round's fleet died on a PostgreSQL termination
// wave). Each loop's CPU time is read back from /proc, so the report proves the load was there.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Busy loops running until `stop`. */
export interface CpuLoad {
  readonly processes: number;
  /** Kills the loops; returns the CPU seconds they used in all. */
  stop(): number;
}

/** One busy loop per core (at normal priority: they compete with the bots as any busy neighbour does). */
export function startCpuLoad(processes = availableParallelism()): CpuLoad {
  const children: ChildProcess[] = [];
  for (let i = 0; i < processes; i++)
    children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return {
    processes,
    stop() {
      const seconds = children.reduce((sum, child) => sum + cpuSeconds(child.pid), 0);
      for (const child of children) child.kill('SIGKILL');
      return Math.round(seconds * 10) / 10;
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
