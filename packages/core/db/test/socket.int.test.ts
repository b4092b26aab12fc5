// PostgreSQL through its Unix-domain socket: libpq's `?host=/directory` in the URL. Runs where
// the test server's socket (its first `unix_socket_directories`, holding `.s.PGSQL.<port>`) is on
// this machine; says why when it is skipped.
import postgres from '@diana/postgres';
import { findPgSocket, useTestDatabase } from '@diana/test-services';
import { afterAll, expect, it } from 'vitest';
import { createPostgres, type Database } from '../src/postgres.js';

const testDb = await useTestDatabase('db-socket');
const socket = testDb.pooler === undefined ? await findPgSocket(testDb.url) : undefined;
const skip = !socket
  ? 'through PgBouncer (DIANA_TEST_POOLER): the pooler is reached over TCP'
  : socket.here
    ? undefined
    : `the server's socket (${socket.path}) is not on this machine`;
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
    socketUrl.searchParams.set('host', socket?.dir ?? '');
    const database = socketUrl.pathname.slice(1);
    // the same URL without ?host= goes over TCP: the check below can tell the two apart
    expect(await peer(testDb.url)).toEqual({ over_tcp: true, database });
    expect(await peer(socketUrl.toString())).toEqual({ over_tcp: false, database });
    // direct_url too (what migrations and LISTEN use behind a pooler)
    const pooled = createPostgres({ url: testDb.url, pooler: 'transaction', direct_url: socketUrl.toString() });
    pools.push(pooled);
    const [direct] = await (pooled.direct() as Database).sql<{ over_tcp: boolean }[]>`
      select inet_server_addr() is not null as over_tcp`;
    expect(direct?.over_tcp).toBe(false);
  },
);

it.skipIf(skip !== undefined)(
  "libpq's own socket form, postgres:///db?host=<directory>&user=<role> (no host), connects through the socket as that role",
  async () => {
    const tcp = new URL(testDb.url);
    const database = tcp.pathname.slice(1);
    const user = decodeURIComponent(tcp.username);
    const url = `postgres:///${database}?host=${socket?.dir ?? ''}&user=${user}`;
    const db = createPostgres({ url, pool_max: 1 });
    pools.push(db);
    const [row] = await db.sql<{ over_tcp: boolean; database: string; role: string }[]>`
      select inet_server_addr() is not null as over_tcp, current_database() as database, current_user as role`;
    expect(row).toEqual({ over_tcp: false, database, role: user });
  },
);

it.skipIf(skip !== undefined)(
  "libpq's other socket forms connect through the socket: credentials before an empty host (Cloud SQL's), a %2F-encoded host",
  async () => {
    const tcp = new URL(testDb.url);
    const database = tcp.pathname.slice(1);
    const dir = socket?.dir ?? '';
    const port = tcp.port ? `:${tcp.port}` : '';
    const credentials = `${tcp.username}${tcp.password ? `:${tcp.password}` : ''}@`;
    const cloudSql = `postgresql://${credentials}${port ? `${port}` : ''}/${database}?host=${dir}`;
    const encoded = `postgres://${credentials}${encodeURIComponent(dir)}${port}/${database}`;
    expect(await peer(cloudSql)).toEqual({ over_tcp: false, database });
    expect(await peer(encoded)).toEqual({ over_tcp: false, database });
    // and as direct_url behind a pooler (migrations and LISTEN)
    const pooled = createPostgres({ url: testDb.url, pooler: 'transaction', direct_url: cloudSql });
    pools.push(pooled);
    const [direct] = await (pooled.direct() as Database).sql<{ over_tcp: boolean }[]>`
      select inet_server_addr() is not null as over_tcp`;
    expect(direct?.over_tcp).toBe(false);
  },
);

it("libpq's ?user= is the driver's user (the one a password exchange uses), not a startup parameter", async () => {
  // nothing connects: the options are read when the pool is made
  const sql = postgres('postgres:///diana?host=/var/run/postgresql&user=app&application_name=x');
  try {
    expect(sql.options.user).toBe('app');
    expect(sql.options.database).toBe('diana');
    expect(sql.options.path).toBe('/var/run/postgresql/.s.PGSQL.5432');
    expect(sql.options.connection).toEqual({ application_name: 'x' });
  } finally {
    await sql.end({ timeout: 0 });
  }
});

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
