// The embedded default: PGlite and the memory event bus, one process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DB_MIGRATIONS, migrate } from '@diana/db';
import { createEmbeddedPostgres } from '@diana/db/embedded';
import { createEventBus, createMemoryTransport, createOutboxRelay, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { afterAll, expect, it } from 'vitest';
import { CONFIG_EVENTS } from '../src/events.js';
import { createConfigManager } from '../src/manager.js';
import { CONFIG_MIGRATIONS } from '../src/migrations.js';
import { TEMPLATES } from './fixtures/templates.js';

const dir = mkdtempSync(join(tmpdir(), 'diana-config-'));
const db = await createEmbeddedPostgres({ dir });
const transport = createMemoryTransport();
const bus = createEventBus({}, { transport, events: CONFIG_EVENTS });
const relay = createOutboxRelay({ outbox_poll_ms: 20 }, { db, transport });
afterAll(async () => {
  await relay.close();
  await bus.close();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

it('publishes and hot-reloads on PGlite with the memory bus', async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS]);
  const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: TEMPLATES });
  // a second manager hears of the publish only through the event
  const other = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: TEMPLATES });
  await config.start();
  await other.start();
  const draft = await config.createDraft(
    'gamification.daily_gift',
    { amount: 42 },
    { actor: 'owner', reason: 'embedded' },
  );
  await config.publish(draft.id, { actor: 'owner', reason: 'embedded' });
  expect(config.get('gamification.daily_gift').amount).toBe(42);
  expect(config.stats().writes_applied).toBe(1);
  const deadline = Date.now() + 15_000;
  while (other.get('gamification.daily_gift').amount !== 42 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  expect(other.get('gamification.daily_gift').amount).toBe(42);
  expect(other.stats().events_applied).toBe(1);
  await other.close();
  await config.close();
});
