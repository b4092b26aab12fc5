// The operator CLI: pnpm cli migrate | migrate status | dlq list <type> | dlq replay <type> [ids…] | dlq purge <type> [ids…]
import { loadSettings } from '@diana/config';
import { createPostgres, migrate, migrationStatus } from '@diana/db';
import { createEventBus, createMemoryTransport } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createLogger, revealSecret } from '@diana/utils';
import { Redis } from 'ioredis';
import { ALL_MIGRATIONS } from './app.js';
import { SETTINGS_SCHEMAS } from './config.js';

const [command, sub, ...rest] = process.argv.slice(2);
const settings = loadSettings(SETTINGS_SCHEMAS);
const logger = createLogger({ level: 'warn', destination: process.stderr });
const print = (value: unknown) =>
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);
const usage = 'usage: cli migrate [status] | dlq list|replay|purge <event type> [dlq ids…]';

async function withDatabase<T>(work: (db: Awaited<ReturnType<typeof open>>) => Promise<T>): Promise<T> {
  const db = await open();
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}
async function open() {
  if (settings.database.url)
    return createPostgres({ ...settings.database, url: settings.database.url as never }, { logger });
  const { createEmbeddedPostgres } = await import('@diana/db/embedded');
  return createEmbeddedPostgres({ dir: `${settings.bot.data_dir}/pg`, logger });
}

if (command === 'migrate') {
  await withDatabase(async (db) => {
    if (sub === 'status')
      for (const entry of await migrationStatus(db, ALL_MIGRATIONS))
        print(`${entry.status.padEnd(8)} ${entry.source} ${entry.name}`);
    else print(await migrate(db, ALL_MIGRATIONS));
  });
} else if (command === 'dlq' && sub && ['list', 'replay', 'purge'].includes(sub) && rest[0]) {
  const redis = settings.redis.url ? new Redis(revealSecret(settings.redis.url), { lazyConnect: true }) : undefined;
  if (!redis) print('no Redis configured: the embedded bus keeps its dead letters in the bot process only');
  const transport = redis
    ? createRedisStreamsTransport({ redis, prefix: settings.event_bus.stream_prefix, logger })
    : createMemoryTransport();
  const bus = createEventBus(settings.event_bus, { transport, events: { [rest[0]]: { version: 1 } } as never, logger });
  const [type, ...ids] = rest as [string, ...string[]];
  if (sub === 'list') print(await bus.dlq.list(type as never));
  else if (sub === 'replay') print(`replayed ${await bus.dlq.replay(type as never, ids.length > 0 ? ids : undefined)}`);
  else print(`purged ${await bus.dlq.purge(type as never, ids.length > 0 ? ids : undefined)}`);
  await bus.close();
  await transport.close();
} else {
  print(usage);
  process.exitCode = 2;
}
