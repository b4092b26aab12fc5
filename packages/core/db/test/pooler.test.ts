import { parseOrThrow } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { DatabaseConfig, type DatabaseConfigInput } from '../src/config.js';
import { planPooler } from '../src/pooler.js';
import { createPostgres } from '../src/postgres.js';

const plan = (input: DatabaseConfigInput) =>
  planPooler(parseOrThrow(DatabaseConfig, input, { code: 'E_T', message: 't' }));

describe('planPooler', () => {
  it('is none by default, the URL untouched, direct_url unused', () => {
    expect(
      plan({ url: 'postgres://app@db/diana?sslmode=disable', direct_url: 'postgres://app@db-direct/diana' }),
    ).toEqual({
      pooler: 'none',
      url: 'postgres://app@db/diana?sslmode=disable',
      direct_url: undefined,
    });
  });

  it('turns transaction mode on for ?pgbouncer=true and strips the parameter (the driver would send it to the server)', () => {
    const result = plan({ url: 'postgres://app:pw@bouncer:6432/diana?pgbouncer=true&sslmode=disable' });
    expect(result.pooler).toBe('transaction');
    expect(result.url).toBe('postgres://app:pw@bouncer:6432/diana?sslmode=disable');
    expect(result.direct_url).toBeUndefined();
  });

  it('takes pooler: transaction from the setting, and direct_url beside it', () => {
    const result = plan({
      url: 'postgres://app@bouncer:6432/diana',
      pooler: 'transaction',
      direct_url: 'postgres://app@db:5432/diana',
    });
    expect(result).toEqual({
      pooler: 'transaction',
      url: 'postgres://app@bouncer:6432/diana',
      direct_url: 'postgres://app@db:5432/diana',
    });
  });

  it('strips pgbouncer=false too, and leaves the mode to the setting', () => {
    expect(plan({ url: 'postgres://app@db/diana?pgbouncer=false' })).toMatchObject({
      pooler: 'none',
      url: 'postgres://app@db/diana',
    });
  });

  it('refuses an unknown pooler and a malformed direct_url as E_DB_CONFIG', () => {
    expect(() => createPostgres({ url: 'postgres://app@db/diana', pooler: 'session' as 'none' })).toThrow(
      expect.objectContaining({ code: 'E_DB_CONFIG' }),
    );
    expect(() => createPostgres({ url: 'postgres://app@db/diana', direct_url: 'postgres:app:pw@db/x' })).toThrow(
      expect.objectContaining({ code: 'E_DB_CONFIG' }),
    );
  });

  it('keeps ?host=<directory> (a Unix socket, libpq form) and refuses any other ?host= as E_DB_CONFIG', () => {
    const socket = 'postgres://app@localhost/diana?host=/var/run/postgresql';
    expect(plan({ url: socket }).url).toBe(socket);
    const short = 'postgres:///diana?host=/var/run/postgresql&user=app'; // libpq's, with no host
    expect(plan({ url: short }).url).toBe(short);
    for (const url of [
      'postgres://app@localhost/diana?host=db.internal',
      'postgres://app@localhost/diana?host=',
      'postgres://app@localhost/diana?host=/a&host=/b',
      'postgres:///diana?host=db.internal',
      'postgres:///diana?host=/a&host=/b',
      'postgres:///diana?host=',
    ])
      expect(() => plan({ url }), url).toThrow(
        expect.objectContaining({ code: 'E_DB_CONFIG', message: expect.stringContaining('database url: ?host=') }),
      );
    expect(() =>
      plan({ url: socket, pooler: 'transaction', direct_url: 'postgres://app@localhost/diana?host=db' }),
    ).toThrow(expect.objectContaining({ code: 'E_DB_CONFIG', message: expect.stringContaining('direct_url') }));
  });

  it("reads libpq's other socket forms as ?host=; refuses a URL with nowhere to go, naming the form that works, without the password", () => {
    for (const [url, read] of [
      // credentials before an empty host (Cloud SQL's guides)
      [
        'postgresql://app:s3cret@/diana?host=/cloudsql/project:region:instance',
        'postgresql://app:s3cret@localhost/diana?host=/cloudsql/project:region:instance',
      ],
      // the directory as the host, %2F-encoded
      [
        'postgres://app:s3cret@%2Fvar%2Frun%2Fpostgresql/diana',
        'postgres://app:s3cret@localhost/diana?host=%2Fvar%2Frun%2Fpostgresql',
      ],
    ] as const) {
      expect(plan({ url }).url, url).toBe(read);
    }
    const error = (() => {
      try {
        createPostgres({ url: 'postgresql://app:s3cret@/diana' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toMatchObject({ code: 'E_DB_CONFIG' });
    expect(error?.message).toContain('postgres://app:pw@localhost/diana?host=/var/run/postgresql');
    expect(JSON.stringify(error)).not.toContain('s3cret');
    expect(error?.message).not.toContain('s3cret');
  });

  it('reports the pooler and what it takes away on the Database, before connecting', async () => {
    const db = createPostgres({ url: 'postgres://app@127.0.0.1:1/diana?pgbouncer=true' });
    expect(db.pooler).toBe('transaction');
    expect(db.listen_notify).toBe(false);
    expect(db.direct()).toBeUndefined();
    await db.close();
    const withDirect = createPostgres({
      url: 'postgres://app@127.0.0.1:1/diana?pgbouncer=true',
      direct_url: 'postgres://app@127.0.0.1:2/diana',
    });
    expect(withDirect.listen_notify).toBe(true);
    await withDirect.close();
    // asked first after close: no pool is opened that nothing would close
    expect(() => withDirect.direct()).toThrow(expect.objectContaining({ code: 'E_DB_CLOSED' }));
    const opened = createPostgres({
      url: 'postgres://app@127.0.0.1:1/diana',
      pooler: 'transaction',
      direct_url: 'postgres://app@127.0.0.1:2/diana',
    });
    const direct = opened.direct();
    expect(direct).toBeDefined();
    expect(direct).not.toBe(opened);
    expect(opened.direct()).toBe(direct); // one direct pool, opened once
    await opened.close();
  });
});
