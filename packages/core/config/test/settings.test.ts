import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { useTempDir } from '@diana/test-services';
import {
  coerceBoolean,
  coerceDuration,
  coerceInt,
  coerceList,
  createLogger,
  secret,
  secretUrl,
  urlString,
  type ValidationError,
} from '@diana/utils';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ConfigManagerConfig } from '../src/manager-types.js';
import { getVariableName, loadSettings } from '../src/settings.js';

// Stand-ins shaped like the real component configs.
const DatabaseConfig = v.object({
  url: secretUrl({ protocols: ['postgres', 'postgresql'] }),
  pool_max: v.optional(coerceInt({ min: 1, max: 100 }), 10),
  statement_timeout_ms: v.optional(coerceDuration(), 30_000),
});
const RedisConfig = v.object({
  url: v.optional(urlString({ protocols: ['redis', 'rediss'] }), 'redis://127.0.0.1:6379'),
});
const BotConfig = v.object({
  telegram_bot_token: v.optional(secret({ minLength: 20 })),
  webhook_secret: v.optional(secret({ minLength: 16 })),
  set_webhook: v.optional(coerceBoolean(), true),
  owner_telegram_ids: v.optional(coerceList(coerceInt()), []),
  service_name: v.optional(v.string(), 'diana-bot'),
});
const EventBusConfig = v.object({ max_attempts: v.optional(coerceInt({ min: 1 }), 3) });
const schemas = { database: DatabaseConfig, redis: RedisConfig, bot: BotConfig, event_bus: EventBusConfig };

const TOKEN = '7012345678:AAHfK3x_Q9mZ2pLr8sVt4wYb6cNd1eJg0oU';
const DB_PASSWORD = 'pg-pass-w0rd';
const noFile = { env_file: false } as const;

function loadError(env: Record<string, string>): ValidationError<'E_CONFIG_SETTINGS_INVALID'> {
  try {
    loadSettings(schemas, env, noFile);
  } catch (error) {
    return error as ValidationError<'E_CONFIG_SETTINGS_INVALID'>;
  }
  throw new Error('expected loadSettings to fail');
}

describe('loadSettings', () => {
  it('maps DIANA_<SECTION>_<KEY> to section.key and applies defaults', () => {
    const settings = loadSettings(
      schemas,
      {
        DIANA_DATABASE_URL: `postgres://diana:${DB_PASSWORD}@127.0.0.1:5432/diana`,
        DIANA_DATABASE_POOL_MAX: '20',
        DIANA_DATABASE_STATEMENT_TIMEOUT_MS: '5s',
        DIANA_BOT_SET_WEBHOOK: 'false',
        DIANA_BOT_OWNER_TELEGRAM_IDS: '11, 22',
        DIANA_EVENT_BUS_MAX_ATTEMPTS: '5',
      },
      noFile,
    );
    expect(settings.database.url.reveal()).toBe(`postgres://diana:${DB_PASSWORD}@127.0.0.1:5432/diana`);
    expect(settings.database.pool_max).toBe(20);
    expect(settings.database.statement_timeout_ms).toBe(5000);
    expect(settings.redis.url).toBe('redis://127.0.0.1:6379');
    expect(settings.bot.set_webhook).toBe(false);
    expect(settings.bot.owner_telegram_ids).toEqual([11, 22]);
    expect(settings.bot.telegram_bot_token).toBeUndefined();
    expect(settings.event_bus.max_attempts).toBe(5);
    expect(getVariableName('event_bus', 'max_attempts')).toBe('DIANA_EVENT_BUS_MAX_ATTEMPTS');
  });

  it('refuses a duration longer than a timer holds, naming the variable (a 30-day resync ran every 1 ms)', () => {
    let error: unknown;
    try {
      loadSettings({ config: ConfigManagerConfig }, { DIANA_CONFIG_RESYNC_INTERVAL_MS: '30d' }, noFile);
    } catch (e) {
      error = e;
    }
    expect((error as ValidationError).code).toBe('E_CONFIG_SETTINGS_INVALID');
    expect((error as ValidationError).issues).toMatchObject([
      { path: 'DIANA_CONFIG_RESYNC_INTERVAL_MS', message: expect.stringContaining('at most 2147483647 ms') },
    ]);
    expect(
      loadSettings({ config: ConfigManagerConfig }, { DIANA_CONFIG_RESYNC_INTERVAL_MS: '24d' }, noFile).config
        .resync_interval_ms,
    ).toBe(24 * 86_400_000);
  });

  it('accepts the usual aliases, with the DIANA_ name winning', () => {
    const settings = loadSettings(
      schemas,
      {
        DATABASE_URL: 'postgres://alias@127.0.0.1/a',
        REDIS_URL: 'redis://10.0.0.1:6379',
        DIANA_REDIS_URL: 'redis://127.0.0.2:6379',
        TELEGRAM_BOT_TOKEN: TOKEN,
        OTEL_SERVICE_NAME: 'diana-eu-1',
      },
      noFile,
    );
    expect(settings.bot.service_name).toBe('diana-eu-1'); // the OpenTelemetry standard variable
    expect(settings.database.url.reveal()).toBe('postgres://alias@127.0.0.1/a');
    expect(settings.redis.url).toBe('redis://127.0.0.2:6379');
    expect(settings.bot.telegram_bot_token?.reveal()).toBe(TOKEN);
  });

  it('reports three bad variables in one error, naming each and why', () => {
    const error = loadError({
      DIANA_DATABASE_POOL_MAX: 'lots',
      DIANA_BOT_TELEGRAM_BOT_TOKEN: 'short-secret-tok',
      DIANA_REDIS_URL: 'http://not-redis',
    });
    expect(error.code).toBe('E_CONFIG_SETTINGS_INVALID');
    const byVariable = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byVariable).sort()).toEqual([
      'DIANA_BOT_TELEGRAM_BOT_TOKEN',
      'DIANA_DATABASE_POOL_MAX',
      'DIANA_DATABASE_URL',
      'DIANA_REDIS_URL',
    ]);
    expect(byVariable.DIANA_DATABASE_URL).toContain('is required but not set');
    expect(byVariable.DIANA_DATABASE_POOL_MAX).toContain('must be a number');
    expect(byVariable.DIANA_REDIS_URL).toContain('redis://');
    expect(byVariable.DIANA_BOT_TELEGRAM_BOT_TOKEN).toContain('value hidden');
    for (const variable of Object.keys(byVariable)) expect(error.message).toContain(variable);
  });

  it('never shows a secret in its error, its JSON or its inspect output', () => {
    const badSecret = 'short-secret';
    const error = loadError({
      DIANA_DATABASE_URL: `mysql://diana:${DB_PASSWORD}@127.0.0.1/x`,
      DIANA_BOT_WEBHOOK_SECRET: 'tiny',
      DIANA_BOT_TELEGRAM_BOT_TOKEN: badSecret,
      DIANA_DATABASE_POOL_MAX: '0',
    });
    expect(error.issues).toHaveLength(4);
    const views = [error.message, JSON.stringify(error), inspect(error, { depth: 10 }), String(error.stack)];
    for (const view of views) {
      expect(view).not.toContain(DB_PASSWORD);
      expect(view).not.toContain(badSecret);
      expect(view).not.toContain('tiny');
    }
  });

  it('refuses a setting named like a secret that is not declared as one (E_CONFIG_USAGE), whatever the environment holds', () => {
    // a reviewer's api_password: v.string() was loaded, logged and serialised in clear
    for (const key of ['api_password', 'webhook_secret', 'bot_token', 'pepper']) {
      let error: unknown;
      try {
        loadSettings({ smtp: v.object({ [key]: v.optional(v.string()) }) }, {}, { env_file: false });
      } catch (caught) {
        error = caught;
      }
      expect(error, key).toMatchObject({ code: 'E_CONFIG_USAGE', context: { setting: `smtp.${key}` } });
      expect((error as Error).message).toContain('secret()');
    }
    // declared as secrets they load, hidden
    const settings = loadSettings(
      { smtp: v.object({ api_password: secret(), dsn_secret: v.optional(secretUrl({ protocols: ['smtp'] })) }) },
      { DIANA_SMTP_API_PASSWORD: 'hunter2hunter2' },
      { env_file: false },
    );
    expect(JSON.stringify(settings)).not.toContain('hunter2');
    expect(settings.smtp.api_password.reveal()).toBe('hunter2hunter2');
  });

  it('flags unknown variables of a known section, ignores other DIANA_ variables', () => {
    const error = loadError({
      DIANA_DATABASE_URL: 'postgres://127.0.0.1/x',
      DIANA_DATABASE_POOL_MAXX: '3',
      DIANA_TEST_REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe('DIANA_DATABASE_POOL_MAXX');
    expect(error.issues[0]?.message).toContain('DIANA_DATABASE_POOL_MAX');
  });

  it('returns a deeply frozen object whose secrets stay hidden in JSON, inspect and logs', () => {
    const settings = loadSettings(
      schemas,
      { DIANA_DATABASE_URL: `postgres://diana:${DB_PASSWORD}@db/diana`, TELEGRAM_BOT_TOKEN: TOKEN },
      noFile,
    );
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.bot)).toBe(true);
    expect(Object.isFrozen(settings.bot.owner_telegram_ids)).toBe(true);
    expect(() => {
      (settings.database as { pool_max: number }).pool_max = 99;
    }).toThrow(TypeError);

    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _e, done) {
        lines.push(String(chunk));
        done();
      },
    });
    createLogger({ destination }).info({ settings }, 'settings loaded');
    const json = JSON.stringify(settings);
    for (const view of [json, inspect(settings, { depth: 10 }), lines.join('')]) {
      expect(view).not.toContain(DB_PASSWORD);
      expect(view).not.toContain(TOKEN.split(':')[1]);
    }
    expect(JSON.parse(json).database.url).toBe('postgres://diana:***@db/diana');
  });

  it('reads a .env file, letting the real environment win', () => {
    const dir = useTempDir('diana-env-');
    writeFileSync(
      join(dir, '.env'),
      ['# local settings', 'DATABASE_URL=postgres://from-file@127.0.0.1/f', 'DIANA_DATABASE_POOL_MAX=7', ''].join('\n'),
    );
    const settings = loadSettings(schemas, { DIANA_DATABASE_POOL_MAX: '8' }, { cwd: dir });
    expect(settings.database.url.reveal()).toBe('postgres://from-file@127.0.0.1/f');
    expect(settings.database.pool_max).toBe(8);
  });

  it("reads the .env of the directory the command was typed in (INIT_CWD, set by pnpm and npm), not the script's", () => {
    const typedIn = useTempDir('diana-env-typed-');
    writeFileSync(join(typedIn, '.env'), 'DIANA_DATABASE_POOL_MAX=11\n');
    const before = process.env.INIT_CWD;
    process.env.INIT_CWD = typedIn;
    try {
      // the script's own folder (process.cwd(): this package) has no .env with that key
      expect(loadSettings(schemas, { DIANA_DATABASE_URL: 'postgres://127.0.0.1/x' }).database.pool_max).toBe(11);
      process.env.INIT_CWD = '';
      expect(loadSettings(schemas, { DIANA_DATABASE_URL: 'postgres://127.0.0.1/x' }).database.pool_max).toBe(10);
    } finally {
      if (before === undefined) delete process.env.INIT_CWD;
      else process.env.INIT_CWD = before;
    }
  });

  it('treats empty values as unset', () => {
    const settings = loadSettings(
      schemas,
      { DIANA_DATABASE_URL: 'postgres://127.0.0.1/x', DIANA_DATABASE_POOL_MAX: '' },
      noFile,
    );
    expect(settings.database.pool_max).toBe(10);
  });
});
