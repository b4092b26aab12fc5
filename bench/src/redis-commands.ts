// Counts the commands the Redis server ran, by name, from its own statistics (`INFO
// commandstats`, reset at each `take()`): the Redis twin of `pg-statements.ts`. The server's
// figures count every client, so use it with nothing else talking to that server.
import { Redis } from 'ioredis';

/** Starts counting on the server at `url`; `take()` returns the calls since the last one and restarts. */
export async function countRedisCommands(url: string): Promise<{
  take(): Promise<{ total: number; by_name: Map<string, number> }>;
  close(): Promise<void>;
}> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const reset = async () => void (await client.config('RESETSTAT'));
  await reset();
  return {
    async take() {
      const info = await client.info('commandstats');
      await reset();
      const by_name = new Map<string, number>();
      let total = 0;
      // lines like `cmdstat_evalsha:calls=12,usec=...`; the counting client's own INFO and CONFIG left out
      for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        const [, name = '', calls = '0'] = m;
        if (name === 'info' || name.startsWith('config')) continue;
        by_name.set(name, Number(calls));
        total += Number(calls);
      }
      return { total, by_name };
    },
    close: async () => void (await client.quit()),
  };
}
