// The second process of pnpm bench:config: a ConfigManager that reports every change it applies.

import { CONFIG_EVENTS, createConfigManager } from '@diana/config';
import { createPostgres } from '@diana/db';
import { createEventBus } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import { nextMessage, report } from '@diana/test-services';
import { BENCH_TEMPLATES } from './config-templates.js';

const config = await nextMessage('config');
const db = createPostgres({ url: String(config.database_url), pool_max: 2 });
const transport = createRedisStreamsTransport(
  { prefix: String(config.prefix) },
  { connector: createRedisConnector({ options: { port: Number(config.redis_port) } }) },
);
const bus = createEventBus({ block_ms: 100 }, { transport, events: CONFIG_EVENTS });
const manager = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: BENCH_TEMPLATES });
await manager.start();
manager.onChange('bench.reward', (value) => report({ type: `changed:${value.amount}` }));
report({ type: 'ready' });
await nextMessage('stop');
await manager.close();
await bus.close();
await transport.close();
await db.close();
