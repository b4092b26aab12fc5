// The operator CLI as operators run it: the built `dist/cli.js` (`pnpm cli:prod`, what a deployed
// bot has) in a child process with only the environment given, against a database and a Redis
// key prefix of its own. `pnpm cli` (the sources through tsx) is the same program: the first case
// checks it prints the same usage, and the terminal case runs it (a tsx start costs about 1 s
// more than node's, times the 57 runs of this file).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createPostgres, createUserRepository, type Database } from '@diana/db';
import { createEventBus, type EventBusService } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector, type RedisConnector } from '@diana/redis';
import {
  deleteByPrefixOnCluster,
  getRedisCluster,
  startRedis,
  useTempDir,
  useTestDatabase,
  useTestRedis,
} from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ALL_EVENTS } from '../src/app.js';
import { dlqCommand } from '../src/cli/dlq.js';
import { loadAppSettings } from '../src/config.js';
import { until } from './child-bot.js';

// a port nothing listens on: a free port picked at random may be bound by another test file before
// the command connects (a CI run met PostgreSQL's answer there: "Unknown RESP type 69")
const NOBODY_LISTENS = 1;

const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
const TSX = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
).href;

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** `node dist/cli.js …args` as `pnpm cli:prod` runs it (or, `fromSource`, `src/cli.ts` as `pnpm cli` does), with only `env`. */
async function run(fromSource: boolean, env: Record<string, string>, args: string[]): Promise<Run> {
  const program = fromSource ? ['--import', TSX, 'src/cli.ts'] : ['dist/cli.js'];
  const child = spawn(process.execPath, [...program, ...args], {
    cwd: APP_DIR,
    env: {
      TSX_TSCONFIG_PATH: 'tsconfig.source.json',
      DIANA_BOT_DATA_DIR: useTempDir('diana-cli-'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk) => {
    err += chunk;
  });
  // 'close', not 'exit': the process may have exited before its output was read (a busy CI pass
  // read an empty stderr from a command that had written its line)
  const [code] = await once(child, 'close');
  return { code: code as number | null, out, err };
}
const cli = (env: Record<string, string>, ...args: string[]) => run(false, env, args);
const cliFromSource = (env: Record<string, string>, ...args: string[]) => run(true, env, args);

/** A failure as the CLI must report it: exactly one line on stderr, no stack frames. */
function expectOneLine(run: Run): string {
  const lines = run.err.trimEnd().split('\n');
  expect(lines, run.err).toHaveLength(1);
  expect(run.err).not.toMatch(/^\s*at /m);
  return lines[0] as string;
}

const testDb = await useTestDatabase('bot-cli');
const testRedis = await useTestRedis('bot-cli');
const env = {
  DIANA_DATABASE_URL: testDb.url,
  // through PgBouncer (DIANA_TEST_POOLER=pgbouncer) migrations need it; ignored without a pooler
  DIANA_DATABASE_DIRECT_URL: testDb.direct_url,
  DIANA_REDIS_URL: testRedis.url,
  DIANA_EVENT_BUS_STREAM_PREFIX: testRedis.prefix,
};

describe('pnpm cli: the command line', () => {
  it('--help, -h, help <command> and <command> --help print usage on stdout and exit 0', async () => {
    // independent starts, run side by side (each is a process start; the file's time is mostly these)
    const [top, fromSource, healthFromSource, short, separated, migrateHelp, helpMigrate, dlqHelp] = await Promise.all([
      cli({}, '--help'),
      cliFromSource({}, '--help'),
      cliFromSource({}, 'health', '--help'),
      cli({}, '-h'),
      // `pnpm cli -- --help` hands the separator on: it is skipped
      cli({}, '--', '--help'),
      cli({}, 'migrate', '--help'),
      cli({}, 'help', 'migrate'),
      cli({}, 'dlq', 'purge', '-h'),
    ]);
    expect(top.code).toBe(0);
    expect(top.err).toBe('');
    for (const command of ['migrate', 'dlq', 'config', 'user', 'outbox', 'health', 'status'])
      expect(top.out).toContain(command);
    // each names the way it was started: a deployed folder has no pnpm
    expect(top.out).toMatch(/^usage: node dist\/cli\.js <command>/);
    expect(fromSource.code).toBe(0);
    expect(fromSource.out).toMatch(/^usage: pnpm cli <command>/);
    expect(fromSource.out.replaceAll('pnpm cli', 'node dist/cli.js')).toBe(top.out);
    // and so does each command's own usage
    expect(healthFromSource.out).toMatch(/^usage: pnpm cli health \[--json\]/);
    expect(short.out).toBe(top.out);
    expect(separated.code).toBe(0);
    expect(separated.out).toBe(top.out);
    expect(migrateHelp.code).toBe(0);
    expect(migrateHelp.out).toContain('migrate up');
    expect(migrateHelp.out).toMatch(/^usage: node dist\/cli\.js migrate /);
    expect(helpMigrate.out).toBe(migrateHelp.out);
    expect(dlqHelp.code).toBe(0);
    expect(dlqHelp.out).toContain('dlq purge <type>');
  }, 60_000);

  it('an unknown command, subcommand or option: one line on stderr, exit 2, and no migration applied', async () => {
    // a fresh database: migrate stauts (a typo) used to apply every migration
    const fresh = await useTestDatabase('bot-cli-fresh');
    const freshEnv = { DIANA_DATABASE_URL: fresh.url };
    const cases = [
      ['migrate', 'stauts'],
      ['migrate'],
      ['--frobnicate'],
      ['migrate', 'up', '--frobnicate'],
      ['frobnicate'],
      ['--', 'frobnicate'],
      ['migrate', 'status', '--frobnicate'],
    ];
    const runs = await Promise.all(cases.map((args) => cli(freshEnv, ...args)));
    for (const [i, run] of runs.entries()) {
      expect(run.code, cases[i]?.join(' ')).toBe(2);
      expect(run.out).toBe('');
      expect(expectOneLine(run)).toMatch(/^cli: /);
    }
    const [stauts, , unknownOption, , , separated, statusOption] = runs as Run[];
    expect(stauts?.err).toContain("unknown subcommand 'stauts'");
    expect(unknownOption?.err).toContain("unknown option '--frobnicate'");
    expect(unknownOption?.err).toContain('(node dist/cli.js --help for usage)');
    expect(separated?.err).toContain("unknown command 'frobnicate'");
    expect(statusOption?.err).toContain("Unknown option '--frobnicate'");
    const db = createPostgres({ url: fresh.url as never });
    try {
      const [row] = await db.sql<{ present: boolean }[]>`select to_regclass('diana_migrations') is not null as present`;
      expect(row?.present).toBe(false);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('PostgreSQL unreachable: exit 1, one line naming it with E_DB_UNAVAILABLE, no stack', async () => {
    const port = NOBODY_LISTENS;
    const run = await cli({ DIANA_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` }, 'migrate', 'status');
    expect(run.code).toBe(1);
    expect(expectOneLine(run)).toMatch(
      new RegExp(`^cli: E_DB_UNAVAILABLE: PostgreSQL at 127\\.0\\.0\\.1:${port} did not answer`),
    );
  }, 60_000);

  it('a database that does not exist: exit 1, one line saying the server refused it, with E_DB_UNAVAILABLE', async () => {
    const url = new URL(testDb.url);
    url.pathname = '/diana_no_such_database';
    const run = await cli({ DIANA_DATABASE_URL: url.toString() }, 'migrate', 'status');
    expect(run.code).toBe(1);
    // (was "E_DB_QUERY: … did not answer: …": the server answered, and the database cannot be used)
    expect(expectOneLine(run)).toMatch(
      /^cli: E_DB_UNAVAILABLE: PostgreSQL at \S+ refused the connection: database "diana_no_such_database" does not exist$/,
    );
  }, 60_000);

  it('PostgreSQL that accepts and never answers: E_DB_TIMEOUT after the 5 s ping, the connection dropped then', async () => {
    // a listener that takes the connection and says nothing: each connection's open and close times
    const held: Array<{ opened: number; closed?: number }> = [];
    const silent = createServer((socket) => {
      const entry: { opened: number; closed?: number } = { opened: performance.now() };
      held.push(entry);
      socket.on('close', () => {
        entry.closed = performance.now();
      });
      socket.on('error', () => {});
      socket.resume(); // reads what the client says (and so sees it end), answers nothing
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const port = (silent.address() as AddressInfo).port;
      const run = await cli(
        { DIANA_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` },
        'migrate',
        'status',
      );
      expect(run.code).toBe(1);
      expect(expectOneLine(run)).toMatch(
        /^cli: E_DB_TIMEOUT: PostgreSQL at 127\.0\.0\.1:\d+ did not answer: .*5000 ms/,
      );
      // the fault happened (a connection was held, the ping timed out), and the command let go of
      // it at the ping's deadline (5 s from the ping, a little less from the accept): it used to
      // wait out the pool's 5 s close for the ping that would never end, 10 s in all
      expect(held.length).toBeGreaterThan(0);
      const [first] = held as [{ opened: number; closed?: number }];
      expect(await until(() => first.closed !== undefined, 5_000)).toBe(true); // its close reaches this process
      expect((first.closed as number) - first.opened).toBeLessThan(8_000);
    } finally {
      silent.close();
    }
  }, 60_000);

  it('through sockets that are not there: each named by its path', async () => {
    const dir = '/nonexistent-diana-socket-dir';
    const pg = await cli(
      { DIANA_DATABASE_URL: `postgres://postgres@localhost/nothing?host=${dir}` },
      'migrate',
      'status',
    );
    expect(pg.code).toBe(1);
    expect(expectOneLine(pg)).toMatch(
      new RegExp(`^cli: E_DB_UNAVAILABLE: PostgreSQL at ${dir} did not answer: .*ENOENT ${dir}/\\.s\\.PGSQL\\.5432`),
    );
    const redisRun = await cli({ ...env, DIANA_REDIS_URL: `unix://${dir}/redis.sock` }, 'dlq', 'list', 'user.activity');
    expect(redisRun.code).toBe(1);
    expect(expectOneLine(redisRun)).toMatch(
      new RegExp(`^cli: E_BOT_REDIS_UNAVAILABLE: Redis at ${dir}/redis\\.sock did not answer: .*ENOENT`),
    );
  }, 60_000);

  it('Redis unreachable: exit 1, one line naming it with E_BOT_REDIS_UNAVAILABLE, no stack', async () => {
    const port = NOBODY_LISTENS;
    const run = await cli({ ...env, DIANA_REDIS_URL: `redis://127.0.0.1:${port}` }, 'dlq', 'list', 'user.activity');
    expect(run.code).toBe(1);
    // the refused connection itself is the answer, not a wait for the 5 s deadline ("not ready (status …)")
    expect(expectOneLine(run)).toMatch(
      /^cli: E_BOT_REDIS_UNAVAILABLE: Redis at 127\.0\.0\.1:\d+ did not answer: connect ECONNREFUSED /,
    );
  }, 60_000);
});

describe('pnpm cli into a reader that stops early', () => {
  it('`| head -1`: the closed pipe ends the output quietly, exit 0, no stack', async () => {
    const child = spawn(process.execPath, ['dist/cli.js', 'migrate', 'status'], {
      cwd: APP_DIR,
      env: { DIANA_BOT_DATA_DIR: useTempDir('diana-cli-'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // the reader is gone before the first line
    let err = '';
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    const [code] = await once(child, 'close');
    expect(err).toBe('');
    expect(code).toBe(0);
  });
});

describe('pnpm cli migrate', () => {
  it('through a transaction pooler without DIANA_DATABASE_DIRECT_URL: exit 1, E_DB_MIGRATION_POOLER, nothing applied', async () => {
    const { DIANA_DATABASE_DIRECT_URL: _direct, ...pooledOnly } = env;
    const run = await cli({ ...pooledOnly, DIANA_DATABASE_POOLER: 'transaction' }, 'migrate', 'up', '--yes');
    expect(run.code).toBe(1);
    expect(expectOneLine(run)).toMatch(/^cli: E_DB_MIGRATION_POOLER: .*DIANA_DATABASE_DIRECT_URL/);
    const status = await cli(env, 'migrate', 'status', '--json');
    expect((JSON.parse(status.out) as Array<{ status: string }>).every((e) => e.status === 'pending')).toBe(true);
  }, 60_000);

  it('status lists pending ones; up without --yes applies nothing (exit 1), --dry-run applies nothing, --yes applies', async () => {
    const before = await cli(env, 'migrate', 'status', '--json');
    expect(before.code).toBe(0);
    const entries = JSON.parse(before.out) as Array<{ status: string }>;
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.every((e) => e.status === 'pending')).toBe(true);

    const refused = await cli(env, 'migrate', 'up');
    expect(refused.code).toBe(1);
    expect(expectOneLine(refused)).toMatch(/^cli: E_BOT_CLI_NOT_CONFIRMED: would apply \d+ migration/);
    const dry = await cli(env, 'migrate', 'up', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/^dry run: would apply/);
    expect(
      (JSON.parse((await cli(env, 'migrate', 'status', '--json')).out) as Array<{ status: string }>).every(
        (e) => e.status === 'pending',
      ),
    ).toBe(true);

    const up = await cli(env, 'migrate', 'up', '--yes');
    expect(up.code, up.err).toBe(0);
    expect(up.out).toContain(`applied ${entries.length} migration(s)`);
    const after = await cli(env, 'migrate', 'status');
    expect(after.out.split('\n').filter((l) => l.startsWith('applied')).length).toBe(entries.length);
  }, 120_000);
});

describe('pnpm cli on a migrated database', () => {
  let db: Database;
  let bus: EventBusService<typeof ALL_EVENTS>;
  let connector: RedisConnector;
  beforeAll(async () => {
    db = createPostgres({ url: testDb.url as never, direct_url: testDb.direct_url as never });
    connector = createRedisConnector({ url: testRedis.url });
    const transport = createRedisStreamsTransport({ prefix: testRedis.prefix }, { connector });
    bus = createEventBus({ stream_prefix: testRedis.prefix, max_attempts: 1 }, { transport, events: ALL_EVENTS, db });
    // the migrate tests ran first (same file, in order); make sure regardless
    const { migrate } = await import('@diana/db');
    const { ALL_MIGRATIONS } = await import('../src/app.js');
    await migrate(db, ALL_MIGRATIONS);
  }, 60_000);
  afterAll(async () => {
    await bus.close();
    await db.close();
    await connector.close();
  });

  /** `count` dead letters of user.activity from a group whose handler always fails. */
  async function deadLetters(count: number) {
    const subscription = bus.subscribe('cli-failing', 'user.activity', () => {
      throw new Error('handler broken');
    });
    const before = (await bus.dlq.list('user.activity')).length;
    for (let i = 0; i < count; i++) await bus.publish('user.activity', { user_id: `u${i}` });
    expect(await until(async () => (await bus.dlq.list('user.activity')).length === before + count)).toBe(true);
    await subscription.close();
  }

  it('dlq list: unknown type exit 1 with one line; --json parses; show prints one', async () => {
    const unknown = await cli(env, 'dlq', 'list', 'no.such.type');
    expect(unknown.code).toBe(1);
    expect(unknown.out).toBe('');
    expect(expectOneLine(unknown)).toBe(
      "cli: E_BUS_EVENT_UNKNOWN: unknown event type 'no.such.type' (the bot knows " +
        `${Object.keys(ALL_EVENTS).length} types)`,
    );
    // a --limit past what one listing reads is a usage error (exit 2), not Redis's own words
    for (const limit of ['99999999999999999999', '10001', '0', '2.5']) {
      const huge = await cli(env, 'dlq', 'list', 'user.activity', '--limit', limit);
      expect(huge.code).toBe(2);
      expect(huge.err).toContain('--limit must be an integer from 1 to 10000');
    }

    await deadLetters(2);
    const listed = await cli(env, 'dlq', 'list', 'user.activity', '--json');
    expect(listed.code, listed.err).toBe(0);
    const letters = JSON.parse(listed.out) as Array<{ dlq_id: string; group: string; error: string }>;
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({ group: 'cli-failing' });
    expect(letters[0]?.error).toContain('handler broken');
    const shown = await cli(env, 'dlq', 'show', 'user.activity', letters[0]?.dlq_id as string, '--json');
    expect(JSON.parse(shown.out)).toMatchObject({ dlq_id: letters[0]?.dlq_id });
    const missing = await cli(env, 'dlq', 'show', 'user.activity', '0-1');
    expect(missing.code).toBe(1);
    expect(expectOneLine(missing)).toContain('E_BOT_CLI_NOT_FOUND');
  }, 60_000);

  it('dlq purge: without --yes purges nothing (exit 1), --dry-run purges nothing (exit 0), --yes purges', async () => {
    const count = async () => (await bus.dlq.list('user.activity')).length;
    if ((await count()) === 0) await deadLetters(2);
    const held = await count();
    expect(held).toBeGreaterThan(0);

    const refused = await cli(env, 'dlq', 'purge', 'user.activity');
    expect(refused.code).toBe(1);
    expect(expectOneLine(refused)).toBe(
      `cli: E_BOT_CLI_NOT_CONFIRMED: would purge ${held} dead letter(s) of user.activity: pass --yes to do it (or --dry-run to preview)`,
    );
    expect(await count()).toBe(held);

    const dry = await cli(env, 'dlq', 'purge', 'user.activity', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`dry run: would purge ${held} dead letter(s)`);
    expect(await count()).toBe(held);

    const purged = await cli(env, 'dlq', 'purge', 'user.activity', '--yes');
    expect(purged.code, purged.err).toBe(0);
    expect(purged.out.trim()).toBe(`purged ${held}`);
    expect(await count()).toBe(0);
  }, 60_000);

  it('dlq replay --yes puts one dead letter back (the others stay)', async () => {
    await deadLetters(2);
    const [first, second] = await bus.dlq.list('user.activity');
    const refused = await cli(env, 'dlq', 'replay', 'user.activity', first?.dlq_id as string);
    expect(refused.code).toBe(1);
    expect((await bus.dlq.list('user.activity')).length).toBe(2);
    const replayed = await cli(env, 'dlq', 'replay', 'user.activity', first?.dlq_id as string, '-y');
    expect(replayed.code, replayed.err).toBe(0);
    expect(replayed.out.trim()).toBe('replayed 1');
    expect((await bus.dlq.list('user.activity')).map((d) => d.dlq_id)).toEqual([second?.dlq_id]);
    // the replayed entry went back to the failing group: it fails there again (and leaves no backlog)
    const failing = bus.subscribe('cli-failing', 'user.activity', () => {
      throw new Error('handler broken');
    });
    expect(await until(async () => (await bus.dlq.list('user.activity')).length === 2)).toBe(true);
    await failing.close();
    // several ids at once (a second id was an 'unexpected argument', exit 2: a reviewer's find)
    const both = (await bus.dlq.list('user.activity')).map((d) => d.dlq_id);
    const purged = await cli(env, 'dlq', 'purge', 'user.activity', ...both, '--yes');
    expect(purged.code, purged.err).toBe(0);
    expect(purged.out.trim()).toBe('purged 2');
    expect(await bus.dlq.list('user.activity')).toEqual([]);
  }, 60_000);

  // The prompt can wait minutes while the bot goes on dead-lettering: what the operator answers y
  // to is the listing it was shown. Driven in this process, with a prompt that dead-letters two
  // more before answering (before, purge deleted all 5 and said "purged 5"; replay replayed 5).
  it.each(['purge', 'replay'] as const)(
    'dlq %s without ids acts on the letters it listed, not on ones dead-lettered while it asked',
    async (sub) => {
      await bus.dlq.purge('user.activity');
      await deadLetters(3);
      const shown = (await bus.dlq.list('user.activity')).map((d) => d.dlq_id);
      const questions: string[] = [];
      const ctx = {
        settings: loadAppSettings(env),
        logger: createLogger({ level: 'silent' }),
        ask: async (question: string) => {
          questions.push(question);
          await deadLetters(2);
          return 'y';
        },
      };
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      let printed: string[];
      try {
        await dlqCommand(ctx, [sub, 'user.activity']);
      } finally {
        printed = out.mock.calls.map(([text]) => String(text));
        out.mockRestore();
      }
      expect(questions).toEqual([`This will ${sub} 3 dead letter(s) of user.activity. Proceed? [y/N] `]);
      expect(printed).toEqual([`${sub === 'purge' ? 'purged' : 'replayed'} 3\n`]);
      const left = (await bus.dlq.list('user.activity')).map((d) => d.dlq_id);
      expect(left).toHaveLength(2);
      expect(left.filter((id) => shown.includes(id))).toEqual([]);
      if (sub === 'replay') {
        // the three went back to the failing group: they fail there again (and leave no backlog)
        const failing = bus.subscribe('cli-failing', 'user.activity', () => {
          throw new Error('handler broken');
        });
        expect(await until(async () => (await bus.dlq.list('user.activity')).length === 5)).toBe(true);
        await failing.close();
      }
      await bus.dlq.purge('user.activity');
    },
    60_000,
  );

  // util-linux `script` gives the CLI a terminal as stdin: the prompt path
  it.skipIf(!existsSync('/usr/bin/script'))(
    'on a terminal, dlq purge asks: n purges nothing (exit 1), y purges',
    async () => {
      await deadLetters(1);
      const inTerminal = async (answer: string) => {
        const command = [process.execPath, '--import', TSX, 'src/cli.ts', 'dlq', 'purge', 'user.activity']
          .map((word) => `'${word}'`)
          .join(' ');
        const child = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], {
          cwd: APP_DIR,
          env: { ...env, TSX_TSCONFIG_PATH: 'tsconfig.source.json' },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (chunk) => {
          out += chunk;
        });
        child.stdin.end(`${answer}\n`);
        const [code] = await once(child, 'close'); // its output read to the end
        return { code: code as number | null, out };
      };
      const no = await inTerminal('n');
      expect(no.out).toContain('This will purge 1 dead letter(s) of user.activity. Proceed? [y/N]');
      expect(no.code).toBe(1);
      expect(await bus.dlq.list('user.activity')).toHaveLength(1);
      const yes = await inTerminal('y');
      expect(yes.code, yes.out).toBe(0);
      expect(yes.out).toContain('purged 1');
      expect(await bus.dlq.list('user.activity')).toHaveLength(0);
    },
    60_000,
  );

  it('user show: a stored user (text and --json); an unknown id exit 1 with E_DB_USER_NOT_FOUND', async () => {
    await createUserRepository(db).upsertFromTelegram({ id: 4242, first_name: 'Ana', username: 'ana' });
    const shown = await cli(env, 'user', 'show', '4242');
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toContain('Ana');
    const json = JSON.parse((await cli(env, 'user', 'show', '4242', '--json')).out) as { telegram_id: number };
    expect(json.telegram_id).toBe(4242);
    const unknown = await cli(env, 'user', 'show', '999');
    expect(unknown.code).toBe(1);
    expect(expectOneLine(unknown)).toBe('cli: E_DB_USER_NOT_FOUND: no user with Telegram id 999');
    expect((await cli(env, 'user', 'show', 'abc')).code).toBe(2);
  }, 60_000);

  // ARCHITECTURE.md §4 names a `status` command: it was `unknown command 'status'` (exit 2)
  it('status: migrations, outbox, health and dead letters in one summary; exit 1 naming what is down', async () => {
    await bus.dlq.purge('user.activity');
    await deadLetters(2);
    const [text, json, redisDown] = await Promise.all([
      cli(env, 'status'),
      cli(env, 'status', '--json'),
      cli({ ...env, DIANA_REDIS_URL: `redis://127.0.0.1:${NOBODY_LISTENS}` }, 'status'),
    ]);
    expect(text.code, text.err).toBe(0);
    const lines = text.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ok {3}postgres {5}\d+ ms$/);
    expect(lines[1]).toMatch(/^ok {3}migrations {3}\d+ applied, 0 pending$/);
    expect(lines[2]).toMatch(/^ok {3}outbox {7}\d+ unpublished, oldest \d+ ms$/);
    expect(lines[3]).toMatch(/^ok {3}redis {8}\d+ ms(; .+)?$/); // and what the test server's settings risk, if any
    expect(lines[4]).toBe('     dead letters 2 (user.activity 2)');
    expect(json.code, json.err).toBe(0);
    const report = JSON.parse(json.out) as {
      checks: Array<{ name: string; ok: boolean }>;
      migrations: { applied: number; pending: number; changed: number };
      outbox: { unpublished: number };
      dead_letters: { total: number; by_type: Record<string, number> };
    };
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['postgres', true],
      ['migrations', true],
      ['outbox', true],
      ['redis', true],
    ]);
    expect(report.migrations).toMatchObject({ pending: 0, changed: 0 });
    expect(report.migrations.applied).toBeGreaterThan(0);
    expect(report.dead_letters).toEqual({ total: 2, by_type: { 'user.activity': 2 } });
    // Redis down: PostgreSQL's part still printed, no dead-letter line, exit 1 naming redis
    expect(redisDown.code).toBe(1);
    expect(redisDown.out).toMatch(/^ok {3}postgres /);
    expect(redisDown.out).toMatch(/^FAIL redis {8}E_BOT_REDIS_UNAVAILABLE: /m);
    expect(redisDown.out).not.toContain('dead letters');
    expect(expectOneLine(redisDown)).toBe('cli: E_BOT_CLI_UNHEALTHY: not healthy: redis');
    await bus.dlq.purge('user.activity');
  }, 60_000);

  it('outbox status and health: text and --json, exit 0 with everything up', async () => {
    await db.transaction(async () => {
      await bus.publish('user.activity', { user_id: 'outboxed' }); // joins the transaction: the outbox
    });
    const status = JSON.parse((await cli(env, 'outbox', 'status', '--json')).out) as {
      unpublished: number;
      groups: unknown[];
    };
    expect(status.unpublished).toBe(1);
    expect(Array.isArray(status.groups)).toBe(true);
    // Redis down: PostgreSQL's part is still shown, then the failure (exit 1, one line)
    const noRedis = await cli({ ...env, DIANA_REDIS_URL: `redis://127.0.0.1:${NOBODY_LISTENS}` }, 'outbox', 'status');
    expect(noRedis.out).toMatch(/^outbox: 1 unpublished, oldest \d+ ms\n$/);
    expect(noRedis.code).toBe(1);
    expect(expectOneLine(noRedis)).toMatch(/^cli: E_BOT_REDIS_UNAVAILABLE: /);
    // --json too: PostgreSQL's part, with no groups, then the failure
    const noRedisJson = await cli(
      { ...env, DIANA_REDIS_URL: `redis://127.0.0.1:${NOBODY_LISTENS}` },
      'outbox',
      'status',
      '--json',
    );
    expect(JSON.parse(noRedisJson.out)).toMatchObject({ unpublished: 1, groups: null });
    expect(noRedisJson.code).toBe(1);
    expect(expectOneLine(noRedisJson)).toMatch(/^cli: E_BOT_REDIS_UNAVAILABLE: /);
    const text = await cli(env, 'outbox', 'status');
    expect(text.code).toBe(0);
    expect(text.out).toContain('outbox: 1 unpublished');

    const health = await cli(env, 'health');
    expect(health.code, health.err + health.out).toBe(0);
    expect(health.out).toMatch(/^ok +postgres/m);
    expect(health.out).toMatch(/^ok +migrations +all applied/m);
    expect(health.out).toMatch(/^ok +redis/m);
    const checks = JSON.parse((await cli(env, 'health', '--json')).out) as Array<{ name: string; ok: boolean }>;
    expect(checks.map((c) => c.name)).toEqual(['postgres', 'migrations', 'outbox', 'redis']);
    const down = await cli({ ...env, DIANA_REDIS_URL: `redis://127.0.0.1:${NOBODY_LISTENS}` }, 'health');
    expect(down.code).toBe(1);
    expect(down.out).toMatch(/^FAIL redis .* did not answer: connect ECONNREFUSED /m);
    expect(expectOneLine(down)).toBe('cli: E_BOT_CLI_UNHEALTHY: not healthy: redis');
  }, 60_000);

  it('an applied migration edited since: health names it, and migrate up refuses it as the start does', async () => {
    const [row] = await db.sql<{ source: string; name: string; checksum: string }[]>`
      select source, name, checksum from diana_migrations order by source, name limit 1`;
    const where = `${row?.source}/${row?.name}`;
    await db.sql`update diana_migrations set checksum = ${`x${row?.checksum}`} where source = ${row?.source as string} and name = ${row?.name as string}`;
    try {
      // before: "1 not applied (cli migrate up)", and migrate up said "nothing to apply", exit 0
      const health = await cli(env, 'health');
      expect(health.code).toBe(1);
      expect(health.out).toContain(
        `FAIL migrations 1 edited after being applied: ${where} (revert the files; add a new migration)`,
      );
      const up = await cli(env, 'migrate', 'up', '--yes');
      expect(up.code).toBe(1);
      expect(expectOneLine(up)).toBe(
        `cli: E_DB_MIGRATION_CHECKSUM: applied migrations were edited: ${where}. Revert the files and add a new migration instead.`,
      );
    } finally {
      await db.sql`update diana_migrations set checksum = ${row?.checksum as string} where source = ${row?.source as string} and name = ${row?.name as string}`;
    }
  }, 60_000);

  it("health says what Redis's settings risk beside its answer, still ok: an evicting policy, no append-only file", async () => {
    await using risky = await startRedis({ appendonly: false, args: ['--maxmemory-policy', 'allkeys-lru'] });
    const health = await cli({ ...env, DIANA_REDIS_URL: risky.url }, 'health');
    expect(health.code, health.err + health.out).toBe(0);
    expect(health.out).toMatch(
      /^ok +redis +\d+ ms; Redis maxmemory-policy is allkeys-lru: .*; Redis runs without an append-only file \(appendonly no\): .*set appendonly yes$/m,
    );
    // set right, the line is the answer's time alone
    await using safe = await startRedis({ appendonly: true });
    const checks = JSON.parse((await cli({ ...env, DIANA_REDIS_URL: safe.url }, 'health', '--json')).out) as Array<{
      name: string;
      ok: boolean;
      detail: string;
    }>;
    expect(checks.find((c) => c.name === 'redis')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^\d+ ms$/),
    });
  }, 60_000);

  it("health says what PostgreSQL's settings risk beside its answer, still ok: synchronous_commit off", async () => {
    const asyncCommit = await useTestDatabase('bot-cli-async-commit');
    const admin = createPostgres({ url: asyncCommit.direct_url });
    await admin.sql.unsafe(`alter database "${asyncCommit.name}" set synchronous_commit = off`);
    await admin.close();
    const onIt = { ...env, DIANA_DATABASE_URL: asyncCommit.url, DIANA_DATABASE_DIRECT_URL: asyncCommit.direct_url };
    expect((await cli(onIt, 'migrate', 'up', '--yes')).code).toBe(0);
    const health = await cli(onIt, 'health');
    expect(health.code, health.err + health.out).toBe(0);
    expect(health.out).toMatch(
      /^ok +postgres +\d+ ms; PostgreSQL's synchronous_commit is off.*set synchronous_commit on$/m,
    );
    // the shared test database is left at the server's safe values: its line is the time alone
    expect((await cli(env, 'health')).out).toMatch(/^ok +postgres +\d+ ms$/m);
  }, 60_000);

  it('health and dlq list over a Redis Cluster given by DIANA_REDIS_CLUSTER_NODES', async () => {
    const cluster = await getRedisCluster();
    const prefix = `${testRedis.prefix}cluster:`;
    const { DIANA_REDIS_URL: _url, ...withoutUrl } = env;
    const onCluster = {
      ...withoutUrl,
      DIANA_REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
      DIANA_EVENT_BUS_STREAM_PREFIX: prefix,
    };
    try {
      const health = await cli(onCluster, 'health');
      expect(health.code, health.err + health.out).toBe(0);
      expect(health.out).toMatch(/^ok +redis/m);
      const dlq = await cli(onCluster, 'dlq', 'list', 'user.activity', '--json');
      expect(dlq.code, dlq.err).toBe(0);
      expect(JSON.parse(dlq.out)).toEqual([]);
    } finally {
      await deleteByPrefixOnCluster(cluster.nodes, prefix);
    }
  }, 90_000);

  it('config get, set (--yes / --dry-run / refused), history, rollback (to a revision, and to the default)', async () => {
    const key = 'security.rate_limits';
    const initial = JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as Record<
      string,
      { limit: number }
    >;
    expect(initial.bid?.limit).toBe(1); // the template's default
    const all = await cli(env, 'config', 'get');
    expect(all.out).toContain(`${key}: `);

    const value = JSON.stringify({ bid: { limit: 3, window_ms: 5_000 } });
    const refused = await cli(env, 'config', 'set', key, value);
    expect(refused.code).toBe(1);
    expect(expectOneLine(refused)).toMatch(/^cli: E_BOT_CLI_NOT_CONFIRMED: would set security\.rate_limits/);
    const dry = await cli(env, 'config', 'set', key, value, '--dry-run');
    expect(dry.code).toBe(0);
    const invalid = await cli(env, 'config', 'set', key, JSON.stringify({ bid: { limit: 0, window_ms: 5 } }), '--yes');
    expect(invalid.code).toBe(1);
    // each issue names its field
    expect(expectOneLine(invalid)).toMatch(/^cli: E_CONFIG_INVALID: .*\bbid\.limit: .*\bbid\.window_ms: /);
    // a misspelt field is named even in a dry run (it was dropped, and the change published as made)
    const typo = JSON.stringify({ bid: { limit: 3, window_ms: 5_000, windw_ms: 9_000 } });
    const misspelt = await cli(env, 'config', 'set', key, typo, '--dry-run');
    expect(misspelt.code).toBe(1);
    expect(expectOneLine(misspelt)).toMatch(/^cli: E_CONFIG_INVALID: .*\bbid\.windw_ms: unknown key "windw_ms"/);
    expect((JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as typeof initial).bid?.limit).toBe(1);

    const set = await cli(env, 'config', 'set', key, value, '--yes');
    expect(set.code, set.err).toBe(0);
    expect(set.out).toMatch(/published revision \d+/);
    expect((JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as typeof initial).bid?.limit).toBe(3);
    const [outboxed] = await db.sql<
      { n: string }[]
    >`select count(*)::text as n from event_outbox where type = 'config.changed'`;
    expect(Number(outboxed?.n)).toBeGreaterThan(0); // the running bots hear of it through the outbox

    const history = JSON.parse((await cli(env, 'config', 'history', key, '--json')).out) as Array<{
      revision: number;
      actor: string;
    }>;
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(history[0]?.actor).toMatch(/^cli:/);

    // a rollback to a revision of the active value (each set publishes a new instance, as admin's
    // /config does): back to revision 1, the draft
    const outboxCount = async () =>
      Number(
        (await db.sql<{ n: string }[]>`select count(*)::text as n from event_outbox where type = 'config.changed'`)[0]
          ?.n,
      );
    const changesBefore = await outboxCount();
    const refusedRollback = await cli(env, 'config', 'rollback', key, '1');
    expect(refusedRollback.code).toBe(1);
    expect(expectOneLine(refusedRollback)).toMatch(
      /^cli: E_BOT_CLI_NOT_CONFIRMED: would roll security\.rate_limits back to revision 1/,
    );
    const dryRollback = await cli(env, 'config', 'rollback', key, '1', '--dry-run');
    expect(dryRollback.code).toBe(0);
    expect(JSON.parse((await cli(env, 'config', 'history', key, '--json')).out)).toHaveLength(history.length);
    expect(await outboxCount()).toBe(changesBefore);
    const rolled = await cli(env, 'config', 'rollback', key, '1', '--yes');
    expect(rolled.code, rolled.err).toBe(0);
    expect(rolled.out).toContain(`rolled back to revision 1 as revision ${history.length + 1}`);
    const after = JSON.parse((await cli(env, 'config', 'history', key, '--json')).out) as Array<{
      action: string;
      actor: string;
    }>;
    expect(after.at(-1)).toMatchObject({ action: 'rollback' });
    expect(after.at(-1)?.actor).toMatch(/^cli:/);
    // the text says which line is the rollback and to what
    const listed = (await cli(env, 'config', 'history', key)).out.trimEnd().split('\n');
    expect(listed.at(-1)).toMatch(/^#\d+ \S+ rollback cli:\S+: .* \(to revision 1: via the CLI: config rollback\)$/);
    expect(await outboxCount()).toBe(changesBefore + 1);
    expect((JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as typeof initial).bid?.limit).toBe(3);
    const noSuch = await cli(env, 'config', 'rollback', key, '999', '--yes');
    expect(noSuch.code).toBe(1);
    expect(expectOneLine(noSuch)).toBe(`cli: E_CONFIG_NOT_FOUND: ${key} has no revision 999`);
    // the template's default was never a revision (revision 1 is the first set): `default` brings it back
    const dryDefault = await cli(env, 'config', 'rollback', key, 'default', '--dry-run');
    expect(dryDefault.out).toMatch(/^dry run: would roll security\.rate_limits back to the default: /);
    expect((JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as typeof initial).bid?.limit).toBe(3);
    const toDefault = await cli(env, 'config', 'rollback', key, 'default', '--yes');
    expect(toDefault.code, toDefault.err).toBe(0);
    expect((JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as typeof initial).bid?.limit).toBe(1);
    expect(await outboxCount()).toBe(changesBefore + 2); // the running bots hear of it too
    // the history keeps every value the key had, the archived ones too
    const afterDefault = await cli(env, 'config', 'history', key);
    expect(afterDefault.out).toContain('(none is active now: the defaults apply)');
    expect(afterDefault.out).toContain('archive cli:');
    const second = await cli(
      env,
      'config',
      'set',
      key,
      JSON.stringify({ bid: { limit: 4, window_ms: 5_000 } }),
      '--yes',
    );
    expect(second.code, second.err).toBe(0);
    const every = JSON.parse((await cli(env, 'config', 'history', key, '--json')).out) as Array<{
      number: number;
      action: string;
      values: { bid?: { limit: number } };
    }>;
    // (before: the history of the active value alone, where limit 3 is not, and no rollback to it)
    const firstPublish = every.find((r) => r.action === 'publish' && r.values.bid?.limit === 3);
    expect(firstPublish).toBeDefined();
    const back = await cli(env, 'config', 'rollback', key, String(firstPublish?.number), '--yes');
    expect(back.code, back.err).toBe(0);
    expect(back.out).toContain(`rolled back to revision ${firstPublish?.number} as revision ${every.length + 3}`);
    expect((JSON.parse((await cli(env, 'config', 'get', key, '--json')).out) as typeof initial).bid?.limit).toBe(3);
    const badRevision = await cli(env, 'config', 'rollback', key, 'latest');
    expect(badRevision.code).toBe(2);
    const unknownKey = await cli(env, 'config', 'get', 'no.such.key');
    expect(unknownKey.code).toBe(1);
    expect(expectOneLine(unknownKey)).toMatch(/^cli: E_CONFIG_NOT_FOUND: unknown config key 'no\.such\.key'/);
  }, 120_000);
});
