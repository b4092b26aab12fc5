// What the bot's round trips alone cost its process at a given rate, in this hour: an "update"
// that is nothing but `pg` PostgreSQL and `redis` Redis round trips (`select 1` through the
// vendored driver, `PING` through ioredis), one after another with no work between, offered open
// loop like the bot's updates (a timer per update). The process's CPU per such update is a floor
// under the bot's CPU per update with the same round trips, and it moves with the host's hour as
// the bot's does (each write wakes a sleeping server; the wake-ups dominate at low rates): it says
// how much of the bot's figure its round trips alone would cost in this hour. It moves by about
// ±20% from one round to the next as well (eight 5 s rounds in a row: 0.85–1.19 ms).
import postgres from '@diana/postgres';
import { Redis } from 'ioredis';
import { openLoop } from './harness.js';

export interface FloorOptions {
  readonly postgres_url: string;
  readonly redis_url: string;
  /** Updates per second offered. */
  readonly rate: number;
  readonly seconds: number;
  /** Round trips per update to each server. */
  readonly pg: number;
  readonly redis: number;
}

/** The process's CPU milliseconds per bare update (see the file's head). */
export async function measureRoundTripFloor(options: FloorOptions): Promise<number> {
  const sql = postgres(options.postgres_url, { max: 1 });
  // a `unix:///path` URL (`--sockets`) is ioredis's `path`: ioredis 6 does not read that scheme
  const redis = options.redis_url.startsWith('unix://')
    ? new Redis({ path: new URL(options.redis_url).pathname, lazyConnect: true })
    : new Redis(options.redis_url, { lazyConnect: true });
  try {
    await redis.connect();
    const update = async () => {
      for (let k = 0; k < Math.max(options.pg, options.redis); k++) {
        if (k < options.pg) await sql`select 1`;
        if (k < options.redis) await redis.ping();
      }
    };
    const offer = async (seconds: number) => {
      const total = Math.max(1, Math.round(options.rate * seconds));
      const before = process.cpuUsage();
      await openLoop(options.rate, total, update);
      const cpu = process.cpuUsage(before);
      return (cpu.user + cpu.system) / 1000 / total;
    };
    await offer(Math.min(1, options.seconds)); // warm-up: connections open, code compiled
    return await offer(options.seconds);
  } finally {
    redis.disconnect();
    await sql.end({ timeout: 1 });
  }
}
