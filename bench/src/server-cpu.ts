// The CPU time the servers spend on what the bench offers: every PostgreSQL process (the
// postmaster, its backends and workers) and the Redis server on the bench's port, read from
// /proc (Linux), and how busy the whole machine was (/proc/stat: every process, the kernel's
// interrupts). A backend that exits inside a window is counted through its parent's `cutime`:
// the postmaster reaps it. Where /proc is not there, `take()` returns undefined.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** CPU milliseconds the servers used since the last `take()`, and the machine's busy share. */
export interface ServerCpu {
  readonly postgres_ms: number;
  readonly redis_ms: number;
  /** Of all the machine's CPU time in the window, the share not idle (0–1). */
  readonly machine_busy: number;
}

/** Clock ticks per second of /proc's times. */
function ticksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** [comm, utime + stime, cutime + cstime] of a process, in ticks; undefined once it has gone. */
function times(pid: string): [string, number, number] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command sits in parentheses and may hold spaces: the fields start after the last ')'
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17
    const own = Number(fields[11]) + Number(fields[12]);
    const children = Number(fields[13]) + Number(fields[14]);
    return [comm, own, children];
  } catch {
    return undefined;
  }
}

/** The machine's CPU time so far, in ticks: [busy, total] (idle and I/O wait are not busy). */
function machineTimes(): [number, number] {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is inside user already)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return [total - (fields[3] ?? 0) - (fields[4] ?? 0), total];
}

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Starts measuring; `redisPort` picks the Redis server (others may run on the machine). */
export function measureServerCpu(redisPort: number): { take(): ServerCpu | undefined } {
  try {
    readdirSync('/proc');
  } catch {
    return { take: () => undefined };
  }
  const hz = ticksPerSecond();
  const sample = () => {
    let postgres = 0;
    let redis = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const t = times(pid);
      if (!t) continue;
      const [comm, own, children] = t;
      // the backends are children of the postmaster: their ended lives land in its cutime
      if (comm === 'postgres') postgres += own + children;
      else if (comm === 'redis-server' && cmdline(pid).includes(`:${redisPort}`)) redis += own;
    }
    return { postgres, redis, machine: machineTimes() };
  };
  let last = sample();
  return {
    take() {
      const now = sample();
      const result = {
        postgres_ms: ((now.postgres - last.postgres) * 1000) / hz,
        redis_ms: ((now.redis - last.redis) * 1000) / hz,
        machine_busy: (now.machine[0] - last.machine[0]) / Math.max(1, now.machine[1] - last.machine[1]),
      };
      last = now;
      return result;
    },
  };
}
