// PostgreSQL through its Unix-domain socket: libpq's `?host=/directory` in the URL. Runs where
// the test server's socket (its first `unix_socket_directories`, holding `.s.PGSQL.<port>`) is on
// this machine; says why when it is skipped.
import { existsSync } from 'node:fs';
import postgres from '@diana/postgres';
import { useTestDatabase } from '@diana/test-services';
import { afterAll, expect, it } from 'vitest';
import { createPostgres, type Database } from '../src/postgres.js';

const testDb = await useTestDatabase('db-socket');
const port = new URL(testDb.url).port || '5432';
const dir = await (async () => {
  if (testDb.pooler !== undefined) return '';
  const admin = postgres(testDb.url, { max: 1 });
  try {
    const [row] = await admin<{ dirs: string }[]>`select current_setting('unix_socket_directories') as dirs`;
    return row?.dirs.split(',')[0]?.trim() ?? '';
  } finally {
    await admin.end({ timeout: 1 });
  }
})();
const skip =
  testDb.pooler !== undefined
    ? 'through PgBouncer (DIANA_TEST_POOLER): the pooler is reached over TCP'
    : dir.startsWith('/') && existsSync(`${dir}/.s.PGSQL.${port}`)
      ? undefined
      : `the server's socket (${dir || 'none'}/.s.PGSQL.${port}) is not on this machine`;
if (skip) process.stdout.write(`[@diana/db] socket tests skipped: ${skip}\n`);

const pools: Database[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close({ timeout_ms: 1_000 })));
});

const peer = async (url: string) => {
  const db = createPostgres({ url, pool_max: 1 });
  pools.push(db);
  const [row] = await db.sql<{ over_tcp: boolean; database: string }[]>`
    select inet_server_addr() is not null as over_tcp, current_database() as database`;
  return row;
};

it.skipIf(skip !== undefined)(
  '?host=<directory> connects through the socket in it, to the database the URL names',
  async () => {
    const socketUrl = new URL(testDb.url);
    socketUrl.searchParams.set('host', dir);
    const database = socketUrl.pathname.slice(1);
    // the same URL without ?host= goes over TCP: the check below can tell the two apart
    expect(await peer(testDb.url)).toEqual({ over_tcp: true, database });
    expect(await peer(socketUrl.toString())).toEqual({ over_tcp: false, database });
  },
);

it('a socket file that is not there is E_DB_UNAVAILABLE (the server is down), like a refused TCP connection', async () => {
  const db = createPostgres({
    url: 'postgres://postgres@localhost/nothing?host=/nonexistent-diana-socket-dir',
    pool_max: 1,
    connect_timeout_ms: 2_000,
  });
  pools.push(db);
  await expect(db.sql`select 1`).rejects.toMatchObject({
    code: 'E_DB_UNAVAILABLE',
    message: expect.stringContaining('ENOENT /nonexistent-diana-socket-dir/.s.PGSQL.5432'),
  });
});
