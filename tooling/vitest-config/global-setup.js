// Before and after each package's run: private redis-servers left by earlier test processes go
// (orphans.js says how they are left).
import { sweepOrphanRedis } from './orphans.js';

export function setup() {
  sweepOrphanRedis();
}

export function teardown() {
  const killed = sweepOrphanRedis();
  if (killed > 0) console.log(`vitest-config: stopped ${killed} private redis-server(s) left by this run's test files`);
}
