// Start under faults, as operators meet them: each backend down when the bot starts and back a few
// seconds later (the bot waits, says what it waits for, then works fully: a /start → decision →
// besitos round trip and a config hot reload reaching the other process), and the faults start
// cannot outlive (port taken in webhook mode, a second bot on one embedded directory, a backend
// that never comes): exit 1 with one clear line. Bot processes run src/main.ts as children.
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { createPostgres } from '@diana/db';
import {
  createUpdateFactory,
  findPgBouncer,
  startFakeTelegram,
  startPgBouncer,
  startRedis,
  startTcpProxy,
  useTempDir,
  useTestDatabase,
} from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, httpGet, killChildBots, startBot, telegramBotEnv, until } from './child-bot.js';

afterAll(killChildBots);

const OWNER = 900;
const SECRET = 'start-faults-webhook-secret-0123456789';
const updates = createUpdateFactory(10_000);

type Backend = 'postgres' | 'redis' | 'telegram';

/** Two webhook bots sharing PostgreSQL, Redis and the fake Bot API; `down` is cut while they start. */
async function fleetWithOneBackendDown(down: Backend, label: string) {
  const testDb = await useTestDatabase(`bot-start-${label}`);
  const redis = await startRedis();
  const fake = await startFakeTelegram();
  const pgProxy = await startTcpProxy(Number(new URL(testDb.url).port || 5432));
  const tgProxy = await startTcpProxy(Number(new URL(fake.url).port));
  const databaseUrl = new URL(testDb.url);
  databaseUrl.port = String(pgProxy.port);
  if (down === 'postgres') pgProxy.cut();
  if (down === 'telegram') tgProxy.cut();
  if (down === 'redis') await redis.kill();
  const downSince = Date.now();
  const db = createPostgres({ url: testDb.url, pool_max: 2 });
  const bots = await Promise.all(
    ['a', 'b'].map(async (name) => {
      const port = await freePort();
      const process = startBot({
        ...telegramBotEnv(databaseUrl.href, `http://127.0.0.1:${tgProxy.port}`, `${label}-${name}`),
        DIANA_REDIS_URL: redis.url,
        DIANA_BOT_WEBHOOK_URL: 'https://diana.example/telegram',
        DIANA_BOT_WEBHOOK_SECRET: SECRET,
        DIANA_BOT_SET_WEBHOOK: 'false',
        DIANA_BOT_HTTP_PORT: String(port),
        DIANA_BOT_OWNER_TELEGRAM_IDS: String(OWNER),
        DIANA_BOT_LOG_LEVEL: 'info',
        DIANA_EVENT_BUS_BLOCK_MS: '200',
      });
      return { name, port, process };
    }),
  );
  const post = async (port: number, update: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}/telegram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: JSON.stringify(update),
    });
    expect(res.status).toBe(200);
  };
  const restore = async () => {
    if (down === 'postgres') pgProxy.restore();
    if (down === 'telegram') tgProxy.restore();
    if (down === 'redis') await redis.restart();
  };
  const close = async () => {
    for (const bot of bots) bot.process.child.kill('SIGTERM');
    const codes = await Promise.all(bots.map((bot) => bot.process.exited));
    await pgProxy.close();
    await tgProxy.close();
    await fake.close();
    await redis.stop();
    await db.close();
    return codes;
  };
  return { db, fake, bots, post, restore, close, downSince };
}

describe('a backend down when the bot starts, back a few seconds later', () => {
  for (const down of ['postgres', 'redis', 'telegram'] as const) {
    it(`${down}: /healthz answers at once, /readyz and the log say what start waits for; then the bots work fully`, async () => {
      const fleet = await fleetWithOneBackendDown(down, down);
      const [a, b] = fleet.bots as [(typeof fleet.bots)[0], (typeof fleet.bots)[0]];
      try {
        // while the backend is down: alive, not ready, and saying why
        expect(await until(async () => (await httpGet(a.port, '/healthz')).status === 200, 20_000)).toBe(true);
        expect(await until(() => a.process.output().includes(`"msg":"waiting for ${down}"`), 20_000)).toBe(true);
        // each wait says why: a Bot API that cuts every connection, by its socket's code (grammY's
        // init, which retried a failed request by itself, left only "no answer within …")
        if (down === 'telegram')
          expect(a.process.output()).toMatch(/"reason":"Network request for 'getMe' failed! \(E[A-Z]+\)"/);
        const waiting = await httpGet(a.port, '/readyz');
        expect(waiting).toEqual({ status: 503, text: `not ready: starting (waiting for ${down})\n` });
        // the outage itself lasts ~5 s (this wait is the fault, not a synchronization)
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, fleet.downSince + 5_000 - Date.now())));
        await fleet.restore();

        for (const bot of [a, b])
          expect(await until(async () => (await httpGet(bot.port, '/readyz')).status === 200, 30_000)).toBe(true);
        expect(a.process.output()).toContain(`"msg":"${down} answered; starting"`);

        // round trip on bot a: /start → welcome bonus, a decision → its rewards
        const user = 4_000 + ['postgres', 'redis', 'telegram'].indexOf(down);
        await fleet.post(a.port, updates.message(user, '/start'));
        // the story's first fragment: the last message with buttons (the welcome bonus notice may come any time)
        const welcome = fleet.fake.calls
          .filter((c) => c.method === 'sendMessage' && c.payload.chat_id === user && c.payload.reply_markup)
          .at(-1);
        expect(welcome).toBeDefined();
        const markup = welcome?.payload.reply_markup as {
          inline_keyboard: { text: string; callback_data: string }[][];
        };
        const keyboard = markup.inline_keyboard;
        const enter = keyboard.flat().find((button) => button.text === 'Entrar con educación');
        await fleet.post(a.port, updates.press(user, enter?.callback_data as string));
        const balance = async () => {
          const [row] = await fleet.db.sql<{ n: number }[]>`
            select coalesce(sum(t.amount), 0)::int as n from besitos_transactions t
            join users u on u.id = t.user_id where u.telegram_id = ${user}`;
          return row?.n ?? 0;
        };
        // welcome 50 + decision 5 + fragment 1 + first-decision achievement 50, each once
        expect(await until(async () => (await balance()) === 106, 30_000)).toBe(true);

        // hot reload: the owner sets the daily gift on bot a; bot b pays the new amount
        await fleet.post(a.port, updates.message(OWNER, '/start'));
        await fleet.post(a.port, updates.message(OWNER, '/config set gamification.rewards {"daily_gift": 33}'));
        let claimant = 5_000 + ['postgres', 'redis', 'telegram'].indexOf(down) * 100;
        const paidOnB = async () => {
          claimant++;
          await fleet.post(b.port, updates.message(claimant, '/regalo'));
          const [row] = await fleet.db.sql<{ amount: number }[]>`
            select t.amount from besitos_transactions t join users u on u.id = t.user_id
            where u.telegram_id = ${claimant} and t.source = 'daily'`;
          return row?.amount === 33;
        };
        // well under the 60 s periodic resync: only the broadcast can make it in time
        expect(await until(paidOnB, 15_000)).toBe(true);
      } finally {
        const codes = await fleet.close();
        expect(codes).toEqual([0, 0]);
      }
    }, 120_000);
  }
});

describe('redis lost in the middle of the start', () => {
  it('dying after the start ping, before the modules subscribe, and back once their reads were rebuilt: the bot starts', async () => {
    // ioredis never ended a connection disconnected while it waited to reconnect (the bus drops a
    // blocking read's hung connection for a new one), and the start waited for it until its deadline
    const testDb = await useTestDatabase('bot-start-redis-mid');
    const redis = await startRedis();
    const fake = await startFakeTelegram();
    const db = createPostgres({ url: testDb.url, pool_max: 2 });
    const port = await freePort();
    const env = {
      ...telegramBotEnv(testDb.url, fake.url, 'redis-mid'),
      DIANA_REDIS_URL: redis.url,
      DIANA_BOT_HTTP_PORT: String(port),
      DIANA_BOT_LOG_LEVEL: 'info',
      DIANA_EVENT_BUS_BLOCK_MS: '200',
      DIANA_BOT_START_TIMEOUT_MS: '90000',
    };
    // a first start makes the schema, so that the second meets the lock below at its owners step
    const first = startBot(env);
    expect(await until(() => first.output().includes('"msg":"diana bot started'), 60_000)).toBe(true);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // a breakpoint: the users table locked, so the start stops at its owners step — after the
    // Redis ping and before the modules subscribe — while Redis is killed
    let release = () => {};
    let locked = () => {};
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const lock = db.transaction(async (tx) => {
      await tx`lock table users in access exclusive mode`;
      locked();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await holding;
    const bot = startBot(env);
    try {
      const waiting = async () =>
        (
          await db.sql<{ query: string }[]>`
            select query from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`
        ).map((row) => row.query);
      expect(await until(async () => (await waiting()).length > 0, 60_000)).toBe(true);
      expect((await waiting()).join()).toMatch(/role/); // the owners' sync, nothing earlier
      await redis.kill();
      expect(redis.pid).toBeUndefined();
      release();
      await lock;
      // the fault: the consumers' reads hung and their connections were rebuilt while Redis was down
      expect(await until(() => bot.output().includes('"msg":"rebuilding blocking stream connection"'), 30_000)).toBe(
        true,
      );
      expect(bot.output()).not.toContain('"msg":"diana bot started');
      expect((await httpGet(port, '/readyz')).status).toBe(503);
      await redis.restart();
      expect(await until(async () => (await httpGet(port, '/readyz')).status === 200, 30_000)).toBe(true);
      expect(bot.output()).toContain('"msg":"diana bot started');
    } finally {
      release();
      await lock.catch(() => {});
      bot.child.kill('SIGTERM');
      expect(await bot.exited).toBe(0);
      await fake.close();
      await redis.stop();
      await db.close();
    }
  }, 180_000);
});

describe('a slow backend at start', () => {
  // 1 s: four times the 250 ms command limit that once bounded a handshake, and 4 s short of the
  // start gate's 5 s attempt (1.5 s left a busy machine too little of it for handshake and INFO)
  it('redis answering each new connection 1 s late (a cluster fetching its slots on a busy machine): start waits without a warning', async () => {
    const testDb = await useTestDatabase('bot-start-slow-redis');
    await using redis = await startRedis();
    await using slow = await startTcpProxy(Number(new URL(redis.url).port), { connect_delay_ms: 1_000 });
    const output = await answeredStart('slow-redis', 4_100, testDb.url, `redis://127.0.0.1:${slow.port}`);
    expect(slow.delayed_connections).toBeGreaterThan(1); // the ping's client and the adapters' were held
    expect(output).toMatch(/"msg":"diana bot started/);
    // each connection was slow, none refused: nothing to warn about
    expect(output).not.toContain('"msg":"waiting for redis"');
  }, 60_000);
});

/**
 * Starts the bot on the database at `databaseUrl` and the Redis at `redisUrl`, has it answer
 * /start, stops it (exit 0 asserted), and returns its output.
 */
async function answeredStart(name: string, telegramId: number, databaseUrl: string, redisUrl: string) {
  const fake = await startFakeTelegram();
  try {
    const bot = startBot({
      ...telegramBotEnv(databaseUrl, fake.url, name),
      DIANA_REDIS_URL: redisUrl,
      DIANA_BOT_HTTP_PORT: '0',
    });
    fake.queueUpdate(updates.message(telegramId, '/start'));
    const answer = await fake
      .waitFor('sendMessage', 30_000, (c) => String(c.payload.text).includes('Lucien'))
      .catch(() => undefined);
    expect(answer, bot.output().slice(-3_000)).toBeDefined();
    bot.child.kill('SIGTERM');
    expect(await bot.exited).toBe(0);
    return bot.output();
  } finally {
    await fake.close();
  }
}

/**
 * Starts the bot on a private Redis with `redis`'s settings (and a database `prepare` set up), has
 * it answer /start, stops it, and returns its log lines that name `what`.
 */
async function linesSaid(
  name: string,
  telegramId: number,
  what: readonly string[],
  options: {
    redis: Parameters<typeof startRedis>[0];
    prepare?: (testDb: Awaited<ReturnType<typeof useTestDatabase>>) => Promise<void>;
  },
) {
  const testDb = await useTestDatabase(`bot-start-${name}`);
  await options.prepare?.(testDb);
  await using redis = await startRedis(options.redis);
  const output = await answeredStart(name, telegramId, testDb.url, redis.url);
  return output
    .split('\n')
    .filter((line) => what.some((word) => line.includes(word)))
    .map((line) => JSON.parse(line) as { level: string; msg: string; [field: string]: unknown });
}

describe('a Redis that would evict or forget what the bot keeps there', () => {
  const REDIS_RISKS = ['maxmemory-policy', 'append-only'];

  it('maxmemory-policy allkeys-lru: the bot starts and says at error that events can be lost (it said nothing)', async () => {
    const said = await linesSaid('evicting-redis', 4_200, REDIS_RISKS, {
      redis: { appendonly: true, args: ['--maxmemory-policy', 'allkeys-lru'] },
    });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 'error', maxmemory_policy: 'allkeys-lru' });
    expect(said[0]?.msg).toMatch(/event streams, consumer groups and dead letters.*set maxmemory-policy noeviction/);
  }, 60_000);

  it('appendonly no: the bot starts and warns that a restart loses events (it said nothing)', async () => {
    const said = await linesSaid('forgetful-redis', 4_300, REDIS_RISKS, { redis: { appendonly: false } });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 'warn', appendonly: ['no'] });
    expect(said[0]?.msg).toMatch(/^Redis runs without an append-only file.*dead letters.*set appendonly yes$/);
  }, 60_000);
});

describe('a PostgreSQL that acknowledges commits it can lose', () => {
  it('synchronous_commit off for the database: the bot starts and says at error that handled events can be lost (it said nothing)', async () => {
    const said = await linesSaid('async-commit', 4_400, ['synchronous_commit'], {
      redis: { appendonly: true },
      prepare: async (testDb) => {
        const admin = createPostgres({ url: testDb.direct_url });
        await admin.sql.unsafe(`alter database "${testDb.name}" set synchronous_commit = off`);
        await admin.close();
      },
    });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 'error', synchronous_commit: 'off', fsync: 'on' });
    expect(said[0]?.msg).toMatch(/^PostgreSQL's synchronous_commit is off.*set synchronous_commit on$/);
  }, 60_000);
});

describe('faults start cannot outlive: exit 1 with one clear line, nothing half-started', () => {
  it('webhook mode with its HTTP port taken', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const bot = startBot({
        ...telegramBotEnv('postgres://nobody@127.0.0.1:1/none', 'http://127.0.0.1:1', 'port-taken'),
        DIANA_BOT_WEBHOOK_URL: 'https://diana.example/telegram',
        DIANA_BOT_WEBHOOK_SECRET: SECRET,
        DIANA_BOT_HTTP_PORT: String(port),
      });
      expect(await bot.exited).toBe(1);
      expect(bot.errors()).toContain(
        `diana-bot: start failed: the webhook needs HTTP port ${port}, which cannot be used (listen EADDRINUSE`,
      );
      // it gave up before touching any backend
      expect(bot.output()).not.toContain('waiting for postgres');
    } finally {
      taken.close();
    }
  });

  it('an answer no wait can change ends the start at once: Telegram refusing the token, Redis refusing the database, PgBouncer refusing the startup parameters', async () => {
    const testDb = await useTestDatabase('bot-start-refused');
    await using redis = await startRedis();
    // a Bot API that refuses every token, as Telegram does a revoked one
    const refusing = createHttpServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
    }).listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    const fake = await startFakeTelegram();
    const bouncer = findPgBouncer() ? await startPgBouncer() : undefined;
    try {
      const cases = [
        {
          env: telegramBotEnv(testDb.url, `http://127.0.0.1:${(refusing.address() as { port: number }).port}`, 'token'),
          line: "diana-bot: start failed: telegram cannot be used: Call to 'getMe' failed! (401: Unauthorized)",
          waited: 'waiting for telegram',
        },
        {
          env: { ...telegramBotEnv(testDb.url, fake.url, 'redis-db'), DIANA_REDIS_URL: `${redis.url}/99` },
          line: `diana-bot: start failed: redis cannot be used: redis at ${redis.url} refused database 99 of its URL: ERR DB index is out of range`,
          waited: 'waiting for redis',
        },
      ];
      // PgBouncer (where installed) given as a plain PostgreSQL URL: it refuses the timeouts sent
      // at connect, and the line names the setting that fixes it (it waited, then said "did not answer")
      if (bouncer) {
        const plain = new URL(bouncer.urlFor(testDb.name));
        plain.searchParams.delete('pgbouncer');
        cases.push({
          env: telegramBotEnv(plain.toString(), fake.url, 'pgbouncer-plain'),
          line: 'diana-bot: start failed: postgres cannot be used: unsupported startup parameter: statement_timeout (a transaction pooler such as PgBouncer: set DIANA_DATABASE_POOLER=transaction, or add ?pgbouncer=true to the URL)',
          waited: 'waiting for postgres',
        });
      } else console.warn('the PgBouncer case skipped: pgbouncer is not installed');
      for (const { env, line, waited } of cases) {
        // a deadline far past the test's: only the refusal itself can end this start in time
        const bot = startBot({ ...env, DIANA_BOT_HTTP_PORT: '0', DIANA_BOT_START_TIMEOUT_MS: '600000' });
        expect(await bot.exited).toBe(1);
        expect(
          bot
            .errors()
            .split('\n')
            .filter((l) => l.startsWith('diana-bot: ')),
        ).toEqual([line]);
        expect(bot.output()).not.toContain(`"msg":"${waited}"`); // not one retry
      }
    } finally {
      refusing.close();
      await fake.close();
      await bouncer?.stop();
    }
  }, 60_000);

  it('a backend that does not come back within the start deadline', async () => {
    const port = await freePort();
    const bot = startBot({
      ...telegramBotEnv('postgres://nobody@127.0.0.1:1/none', 'http://127.0.0.1:1', 'deadline'),
      DIANA_BOT_HTTP_PORT: String(port),
      DIANA_BOT_START_TIMEOUT_MS: '4000',
      DIANA_DATABASE_CONNECT_TIMEOUT_MS: '500',
    });
    // the deadline counts from the start gate; reaching it took the child over 10 s in CI's busiest
    // pass (tsx compiling the bot with every package's tests running): 60 s for that
    expect(await until(async () => (await httpGet(port, '/healthz')).status === 200, 60_000)).toBe(true);
    expect(await bot.exited).toBe(1);
    const lines = bot.errors().split('\n').filter(Boolean);
    expect(lines.filter((line) => line.startsWith('diana-bot: '))).toEqual([
      expect.stringMatching(/^diana-bot: start failed: postgres did not answer within the start deadline of 4 s/),
    ]);
    expect(bot.output().match(/"msg":"waiting for postgres"/g)?.length).toBeGreaterThan(1);
    expect((await httpGet(port, '/healthz')).status).toBe(0); // nothing left listening
  }, 90_000);

  it('a second bot on the same embedded data directory is refused; the first keeps working', async () => {
    const dir = useTempDir('diana-shared-');
    const first = startBot({ DIANA_BOT_DATA_DIR: dir, DIANA_BOT_HTTP_PORT: '0' });
    expect(await until(() => first.output().includes('Ctrl-C para salir'), 60_000)).toBe(true);
    const second = startBot({ DIANA_BOT_DATA_DIR: dir, DIANA_BOT_HTTP_PORT: '0' });
    expect(await second.exited).toBe(1);
    expect(second.errors()).toContain(
      `No se pudo arrancar: start failed: postgres failed to start: the embedded database is in use by process ${first.child.pid}`,
    );
    first.child.stdin?.end('/start\n');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('Soy Lucien, mayordomo');
  }, 90_000);
});
