// Start-up failures are named; the operator CLI applies and lists migrations (test/cli.int.test.ts has the rest).
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { loadSettings } from '@diana/config';
import { createPostgres } from '@diana/db';
import { useTempDir, useTestDatabase } from '@diana/test-services';
import { isDianaError, type Logger, SILENT_LOGGER } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const TSX = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
).href;
const secrets = { DIANA_SECURITY_CALLBACK_SECRET: 'c'.repeat(40), DIANA_SECURITY_TOKEN_PEPPER: 'p'.repeat(40) };

describe('start-up', () => {
  it('waits for an unreachable PostgreSQL until the start deadline, then names it and leaves nothing open', async () => {
    const settings = loadSettings(
      SETTINGS_SCHEMAS,
      {
        DIANA_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
        DIANA_DATABASE_CONNECT_TIMEOUT_MS: '300',
        DIANA_BOT_START_TIMEOUT_MS: '3000', // more than one attempt even on a busy machine
        ...secrets,
      },
      { env_file: false },
    );
    const waits: unknown[] = [];
    const logger: Logger = {
      ...SILENT_LOGGER,
      warn: (obj: unknown) => {
        waits.push(obj);
      },
      child: () => logger,
    };
    const error = await createApp(settings, { logger }).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_BOT_START_TIMEOUT')).toBe(true);
    expect((error as { context: { dependency: string } }).context.dependency).toBe('postgres');
    expect(String((error as Error).message)).toMatch(/^postgres did not answer within the start deadline of 3 s/);
    expect(waits.length).toBeGreaterThan(1); // one line per attempt
    expect(waits[0]).toMatchObject({ dependency: 'postgres', attempt: 1 });
  });

  it('behind a transaction pooler without DIANA_DATABASE_DIRECT_URL, start fails naming migrations (E_DB_MIGRATION_POOLER)', async () => {
    const testDb = await useTestDatabase('bot-startup-pooler');
    const settings = loadSettings(
      SETTINGS_SCHEMAS,
      {
        ...secrets,
        DIANA_DATABASE_URL: testDb.url,
        DIANA_DATABASE_POOLER: 'transaction',
        DIANA_BOT_DATA_DIR: useTempDir('diana-bot-'),
      },
      { env_file: false },
    );
    const error = await createApp(settings, { logger: SILENT_LOGGER }).catch((e: unknown) => e);
    // the migrations step names itself; its cause is the runner's refusal
    expect(isDianaError(error, 'E_BOT_START_FAILED'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/^migrations failed to start: .*DIANA_DATABASE_DIRECT_URL/);
    expect(isDianaError((error as Error).cause, 'E_DB_MIGRATION_POOLER')).toBe(true);
  });

  it('refuses a real database without configured secrets, naming the variables', async () => {
    const testDb = await useTestDatabase('bot-startup');
    const settings = loadSettings(
      SETTINGS_SCHEMAS,
      { DIANA_DATABASE_URL: testDb.url, DIANA_DATABASE_DIRECT_URL: testDb.direct_url },
      { env_file: false },
    );
    const error = await createApp(settings, { logger: SILENT_LOGGER }).catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain('DIANA_SECURITY_CALLBACK_SECRET');
    // said before anything connects or migrates: nothing was applied to the database
    const probe = createPostgres({ url: testDb.direct_url, pool_max: 1 });
    try {
      const [row] = await probe.sql<{ tables: number }[]>`
        select count(*)::int as tables from information_schema.tables where table_schema = 'public'`;
      expect(row?.tables).toBe(0);
    } finally {
      await probe.close();
    }
  });

  it('says the secrets are missing at once, not after waiting out an unreachable database', async () => {
    const settings = loadSettings(
      SETTINGS_SCHEMAS,
      { DIANA_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', DIANA_BOT_START_TIMEOUT_MS: '30000' },
      { env_file: false },
    );
    const started = performance.now();
    const error = await createApp(settings, { logger: SILENT_LOGGER }).catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain('DIANA_SECURITY_TOKEN_PEPPER');
    expect(performance.now() - started).toBeLessThan(5_000); // the start deadline is 30 s
  });
});

describe('operator CLI', () => {
  it('migrate status lists pending migrations, migrate up --yes applies them, a second run applies none', async () => {
    const testDb = await useTestDatabase('bot-cli');
    const env = {
      DIANA_DATABASE_URL: testDb.url,
      DIANA_DATABASE_DIRECT_URL: testDb.direct_url, // through PgBouncer (DIANA_TEST_POOLER=pgbouncer)
      DIANA_BOT_DATA_DIR: useTempDir('diana-cli-'),
    };
    const cli = (...args: string[]) => run(process.execPath, ['--import', TSX, CLI, ...args], { env });
    expect((await cli('migrate', 'status')).stdout).toMatch(/^pending +@diana\/db 0001_users\.sql$/m);
    expect((await cli('migrate', 'up', '--yes')).stdout).toContain('@diana/config/0001_config_manager.sql');
    expect((await cli('migrate', 'up', '--yes')).stdout).toBe('nothing to apply: every migration is applied\n');
    expect((await cli('migrate', 'status')).stdout).not.toContain('pending');
    const usage = await cli('nonsense').catch((e: { code: number; stdout: string }) => e);
    expect((usage as { code: number }).code).toBe(2);
  }, 60_000);
});
