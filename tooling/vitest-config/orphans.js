// Private redis-servers (test-services' startRedis) that outlived the test process that started
// them. A test file stops its servers in afterAll; vitest skips that hook when a `-t` filter
// leaves no test of the file to run, and ends its workers with SIGTERM, which runs no exit
// handler — so `vitest run -t …` left a server running for each such file. Each server's data
// directory (`<tmp>/diana-redis-*`) holds its owner's pid (`owner`) and the server's
// (`redis.pid`, written by redis-server): when the owner is gone, the server is killed and the
// directory removed.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};

const pidIn = (file) => {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
};

// the pid (alive) is still a redis-server, not a process that took the number since; where there
// is no /proc to tell, the pidfile is trusted
const isRedis = (pid) => {
  if (!existsSync('/proc')) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server');
  } catch {
    return false; // gone meanwhile
  }
};

/** Kills orphaned private redis-servers and removes their directories; returns how many it killed. */
export function sweepOrphanRedis() {
  let killed = 0;
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('diana-redis-')) continue;
    const dir = join(tmpdir(), name);
    const owner = pidIn(join(dir, 'owner'));
    if (owner === undefined || alive(owner)) continue; // not ours to judge, or still in use
    const server = pidIn(join(dir, 'redis.pid'));
    if (server !== undefined && alive(server) && isRedis(server)) {
      try {
        process.kill(server, 'SIGKILL');
        killed++;
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return killed;
}
