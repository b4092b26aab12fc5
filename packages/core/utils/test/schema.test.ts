import { inspect } from 'node:util';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  coerceBoolean,
  coerceDuration,
  coerceInt,
  coerceList,
  coerceNumber,
  isSecretSchema,
  isUrlSchema,
  secret,
  secretUrl,
  timeZone,
  urlString,
} from '../src/schema.js';
import { maskUrl } from '../src/secret.js';
import { libpqSocketUrl } from '../src/url.js';

describe('numeric helpers', () => {
  it('accept numbers and numeric strings, and refuse the rest with a reason', () => {
    expect(v.parse(coerceInt(), '42')).toBe(42);
    expect(v.parse(coerceInt(), 7)).toBe(7);
    expect(v.parse(coerceNumber(), ' 0.5 ')).toBe(0.5);
    expect(v.safeParse(coerceInt(), '4.5').issues?.[0]?.message).toBe('must be a whole number');
    expect(v.safeParse(coerceInt(), 'ten').issues?.[0]?.message).toBe('must be a number');
    // Number() reads these too: an owners' list '0b101, 1e3' made the users 5 and 1000 owners
    for (const text of ['0x10', '0b101', '0o17', '1e3', '-1e12', 'Infinity', '1_000', '+-1'])
      expect(v.safeParse(coerceInt(), text).issues?.[0]?.message, text).toBe('must be a number');
    for (const text of ['0x10', '0b101', 'Infinity', '1e', '.'])
      expect(v.safeParse(coerceNumber(), text).issues?.[0]?.message, text).toBe('must be a number');
    expect(v.parse(coerceInt(), ' -42 ')).toBe(-42);
    expect(v.parse(coerceInt(), '+7')).toBe(7);
    expect(v.parse(coerceNumber(), '2e-3')).toBe(0.002);
    expect(v.parse(coerceNumber(), '-.5')).toBe(-0.5);
    expect(v.safeParse(coerceInt(), '').success).toBe(false);
    expect(v.safeParse(coerceInt({ min: 1, max: 10 }), '11').issues?.[0]?.message).toBe('must be at most 10');
    expect(v.safeParse(coerceInt({ min: 1 }), 0).issues?.[0]?.message).toBe('must be at least 1');
    // one reason per value (a port '8080.5' was also told the safe-integer range)
    const messages = (schema: v.GenericSchema, input: unknown) =>
      v.safeParse(schema, input).issues?.map((issue) => issue.message);
    expect(messages(coerceInt({ min: 0, max: 65_535 }), '8080.5')).toEqual(['must be a whole number']);
    expect(messages(coerceInt({ min: 0, max: 65_535 }), '90071992547409930')).toEqual(['must be at most 65535']);
    expect(messages(coerceInt(), '4.5')).toEqual(['must be a whole number']);
  });

  it('refuse whole numbers past ±2^53 instead of rounding them (a channel id must stay exact)', () => {
    expect(v.parse(coerceInt(), '-1009007199254740')).toBe(-1009007199254740);
    expect(v.parse(coerceInt(), String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(v.safeParse(coerceInt(), '9007199254740993').issues?.[0]?.message).toBe(
      'must be a whole number between -9007199254740991 and 9007199254740991',
    );
    expect(v.safeParse(coerceInt(), '-100999999999999999999').success).toBe(false);
  });

  it('parse durations in ms or with units', () => {
    const d = coerceDuration();
    expect(v.parse(d, '250')).toBe(250);
    expect(v.parse(d, 1500)).toBe(1500);
    expect(v.parse(d, '5s')).toBe(5000);
    expect(v.parse(d, '2m')).toBe(120_000);
    expect(v.parse(d, '1h')).toBe(3_600_000);
    expect(v.parse(d, '1d')).toBe(86_400_000);
    expect(v.safeParse(d, 'soon').success).toBe(false);
    expect(v.safeParse(d, -1).success).toBe(false);
    expect(v.safeParse(coerceDuration({ max: 1000 }), '2s').success).toBe(false);
  });

  it('refuse durations past 2^31-1 ms, which Node would run as a 1 ms timer, unless max allows them', () => {
    const d = coerceDuration({ min: 10 });
    expect(v.parse(d, 2_147_483_647)).toBe(2_147_483_647);
    expect(v.parse(d, '24d')).toBe(24 * 86_400_000);
    for (const input of ['30d', 2_147_483_648, '2147483648', '1y'])
      expect(v.safeParse(d, input).issues?.[0]?.message, String(input)).toBe(
        'must be at most 2147483647 ms (about 24.8 days, the longest timer Node keeps)',
      );
    // a duration that is no timer (a retention, a TTL) says how long it may be
    expect(v.parse(coerceDuration({ max: 3_650 * 86_400_000 }), '30d')).toBe(30 * 86_400_000);
  });
});

describe('coerceBoolean', () => {
  it('knows the usual words', () => {
    const b = coerceBoolean();
    for (const yes of ['true', 'TRUE', '1', 'yes', 'on', true]) expect(v.parse(b, yes)).toBe(true);
    for (const no of ['false', '0', 'no', 'Off', false]) expect(v.parse(b, no)).toBe(false);
    expect(v.safeParse(b, 'maybe').success).toBe(false);
  });
});

describe('coerceList', () => {
  it('splits comma-separated strings and checks each item', () => {
    const ids = coerceList(coerceInt());
    expect(v.parse(ids, '1, 2,3')).toEqual([1, 2, 3]);
    expect(v.parse(ids, [4])).toEqual([4]);
    expect(v.parse(ids, '')).toEqual([]);
    expect(v.safeParse(ids, '1,x').issues?.[0]?.message).toBe('item 2: must be a number');
  });

  it('takes a blank string as the empty list and refuses an empty item', () => {
    const ids = coerceList(coerceInt());
    expect(v.parse(ids, '  ')).toEqual([]);
    expect(v.safeParse(ids, '1,,2').issues?.[0]?.message).toBe('item 2: empty (a stray comma?)');
    expect(v.safeParse(ids, ',').issues?.[0]?.message).toBe('item 1: empty (a stray comma?)');
    expect(v.safeParse(ids, '1, 2,').issues?.[0]?.message).toBe('item 3: empty (a stray comma?)');
  });
});

describe('timeZone', () => {
  it('takes IANA names this runtime knows and refuses offsets and unknown names', () => {
    const zone = timeZone();
    expect(v.parse(zone, ' Europe/Madrid ')).toBe('Europe/Madrid');
    expect(v.parse(zone, 'UTC')).toBe('UTC');
    expect(v.parse(zone, 'America/Argentina/Buenos_Aires')).toBe('America/Argentina/Buenos_Aires');
    expect(v.parse(zone, 'Etc/GMT+5')).toBe('Etc/GMT+5');
    for (const bad of ['Mars/Olympus', '+01:00', 'UTC+1', '', 42, 'Europe/Madrid; drop table x'])
      expect(v.safeParse(zone, bad).issues?.[0]?.message).toBe(
        'must be an IANA time zone name (like Europe/Madrid or UTC)',
      );
  });
});

describe('URLs and secrets', () => {
  it('checks URL schemes', () => {
    const pg = urlString({ protocols: ['postgres', 'postgresql'] });
    expect(v.parse(pg, 'postgres://127.0.0.1/x')).toBe('postgres://127.0.0.1/x');
    expect(v.safeParse(pg, 'redis://127.0.0.1').success).toBe(false);
    expect(v.safeParse(pg, 'not a url').success).toBe(false);
  });

  it("takes a URL's own test, saying what it expects instead of the schemes", () => {
    const numbered = secretUrl({
      protocols: ['redis'],
      refine: { test: (url) => /^\/\d+$/.test(url.pathname), expected: 'a redis:// URL ending in a number' },
    });
    expect(v.parse(numbered, 'redis://h/2').reveal()).toBe('redis://h/2');
    const refused = v.safeParse(numbered, 'redis://:pw@h/x');
    expect(refused.success).toBe(false);
    expect(refused.issues?.[0]?.expected).toBe('a redis:// URL ending in a number');
    expect(v.safeParse(numbered, 'postgres://h/2').success).toBe(false); // the schemes still hold
    expect(v.safeParse(urlString({ refine: { test: () => false, expected: 'none' } }), 'https://h').success).toBe(
      false,
    );
  });

  it('hides secrets from JSON, inspect and template strings', () => {
    const token = v.parse(secret({ minLength: 8 }), 'abcdefgh-secret');
    expect(token.reveal()).toBe('abcdefgh-secret');
    expect(JSON.stringify({ token })).toBe('{"token":"[secret]"}');
    expect(inspect({ token })).not.toContain('abcdefgh');
    expect(`${token}`).toBe('[secret]');
    expect(v.safeParse(secret({ minLength: 8 }), 'short').success).toBe(false);
  });

  it('bounds a secret by length and characters, saying what it expects, the value hidden', () => {
    const token = secret({ minLength: 4, maxLength: 8, characters: 'A-Za-z0-9_-' });
    expect(v.parse(token, 'ab_C-9').reveal()).toBe('ab_C-9');
    for (const bad of ['abc', 'abcdefghi', 'abc+def', 'abc=', 'ab cd']) {
      const result = v.safeParse(token, bad);
      expect(result.success, bad).toBe(false);
      expect(result.issues?.[0]?.expected).toBe('a secret of 4–8 characters of [A-Za-z0-9_-]');
      expect(result.issues?.[0]?.received).toBe('[hidden]');
      expect(result.issues?.[0]?.message).not.toContain(bad);
    }
    expect(v.safeParse(secret({ minLength: 2 }), 'x'.repeat(10_000)).success).toBe(true); // no upper bound unless given
  });

  it('shows a secret URL with its password masked', () => {
    const url = v.parse(secretUrl({ protocols: ['postgres'] }), 'postgres://app:pa55word@db:5432/diana');
    expect(url.reveal()).toBe('postgres://app:pa55word@db:5432/diana');
    expect(JSON.stringify(url)).toBe('"postgres://app:***@db:5432/diana"');
    expect(inspect(url)).not.toContain('pa55word');
  });

  it('accepts an already parsed secret (settings handed on to a factory that parses them again)', () => {
    const token = v.parse(secret({ minLength: 8 }), 'abcdefgh-secret');
    expect(v.parse(secret({ minLength: 8 }), token)).toBe(token);
    expect(v.safeParse(secret({ minLength: 32 }), token).success).toBe(false); // still checked
    const url = v.parse(secretUrl({ protocols: ['postgres'] }), 'postgres://app:pw@db/diana');
    expect(v.parse(secretUrl({ protocols: ['postgres'] }), url).reveal()).toBe('postgres://app:pw@db/diana');
    expect(v.safeParse(secretUrl({ protocols: ['redis'] }), url).success).toBe(false);
  });

  it('refuses URLs that are not scheme://host, and never repeats the refused value', () => {
    const pg = secretUrl({ protocols: ['postgres', 'postgresql'] });
    const refused = [
      'postgres:app:s3cret-pw@db.invalid/diana', // no `//`: WHATWG reads an opaque path
      'postgres:/app:s3cret-pw@db.invalid/diana',
      'postgres:///diana?password=s3cret-pw', // no host
      'postgres://app:s3cret-pw@/diana',
      'postgres://app:s3cret-pw@',
      'postgres://app:s3cret pw@db/diana', // a space
      'postgres://app:s3cret-pw@db\\x/diana',
      'postgres://app:s3cret@pw@db/diana', // an unencoded `@` in the password
      'postgres://ap/p:s3cret-pw@db/diana', // the `@` after the host: the password is in the path
      'postgres://app:@s3cret-pw.db/diana', // a misplaced `@`: the password reads as the host
      'postgres://@s3cret-pw.db/diana',
      'postgres://app:s3cret-pw@dé.example/diana', // not punycode
      'mysql://app:s3cret-pw@db/diana',
      'postgres:s3cret-pw',
      's3cret-pw',
    ];
    for (const raw of refused) {
      const result = v.safeParse(pg, raw);
      expect(result.success, raw).toBe(false);
      expect(
        JSON.stringify(result.issues?.map(({ message, expected, received }) => ({ message, expected, received }))),
        raw,
      ).not.toContain('s3cret');
    }
    const issue = v.safeParse(urlString({ protocols: ['https'] }), 'https:user:s3cret-pw@example.com').issues?.[0];
    expect(issue?.received).toBe('[hidden]');
    expect(issue?.message).toBe('must be a URL (https://)');
    // `expected` replaces the schemes in the message; `refine.expected` wins over it
    const hinted = secretUrl({ protocols: ['postgres'], expected: 'postgres://host/db, or ?host=/dir' });
    expect(v.safeParse(hinted, 'postgres://app:s3cret@/db').issues?.[0]?.message).toBe(
      'must be postgres://host/db, or ?host=/dir',
    );
    const refined = secretUrl({ expected: 'ignored', refine: { test: () => false, expected: 'refined' } });
    expect(v.safeParse(refined, 'postgres://db/x').issues?.[0]?.message).toBe('must be refined');
  });

  it('accepts the usual connection strings', () => {
    const ok = [
      'postgres://app:pa55word@db:5432/diana',
      'postgresql://app@127.0.0.1/diana?sslmode=require',
      'postgres://app:p%40ss@[::1]:5432/diana',
      'redis://:pw@redis_1:6379/0',
      'rediss://default:pw@cache.example.com',
      'mongodb+srv://u:p@cluster0.example.net/db?retryWrites=true',
      '  postgres://db.internal/x  ',
    ];
    for (const raw of ok) expect(v.safeParse(secretUrl(), raw).success, raw).toBe(true);
  });

  it('takes unix:///absolute/path for a Unix-domain socket where the caller lists unix, and nothing looser', () => {
    const redis = secretUrl({ protocols: ['redis', 'rediss', 'unix'] });
    for (const raw of ['unix:///var/run/redis/redis.sock', 'unix:///tmp/r.sock?db=2', ' UNIX:///tmp/r.sock '])
      expect(v.safeParse(redis, raw).success, raw).toBe(true);
    for (const raw of [
      'unix://localhost/tmp/r.sock', // a host: not a socket URL
      'unix://:pw@/tmp/r.sock', // credentials before an empty host
      'unix:/tmp/r.sock',
      'unix:///',
      'unix:///tmp/',
      'unix:///tmp/r.sock#x',
      'unix:///tmp/r .sock',
    ])
      expect(v.safeParse(redis, raw).success, raw).toBe(false);
    expect(v.safeParse(secretUrl({ protocols: ['redis', 'rediss'] }), 'unix:///tmp/r.sock').success).toBe(false);
    expect(maskUrl('unix:///tmp/r.sock?db=2')).toBe('unix:///tmp/r.sock?***');
  });

  it("takes libpq's socket form postgres:///db?host=…, and no other URL without a host", () => {
    const pg = secretUrl({ protocols: ['postgres', 'postgresql'] });
    // (whether `host` is one absolute directory is @diana/db's check, with its own message)
    for (const raw of [
      'postgres:///diana?host=/var/run/postgresql',
      'postgresql:///diana?host=/var/run/postgresql&user=app&sslmode=disable',
      'postgres:///diana?host=db.internal',
    ])
      expect(v.safeParse(pg, raw).success, raw).toBe(true);
    for (const raw of [
      'postgres:///diana', // no host at all
      'postgres:///diana?user=app',
      'postgres:///diana?host=/var/run/postgresql#x',
      'postgres:///diana?host=/var/run/postgresql&password=p@ss',
      'redis:///0?host=/var/run/redis',
    ])
      expect(v.safeParse(secretUrl(), raw).success, raw).toBe(false);
    expect(maskUrl('postgres:///diana?host=/var/run/postgresql&password=s3cret')).toBe('postgres:///diana?***');
  });

  it("takes libpq's two other socket forms, credentials before an empty host and a %2F-encoded host, as the ?host= form", () => {
    const pg = secretUrl({ protocols: ['postgres', 'postgresql'] });
    const cases: [string, string][] = [
      // Cloud SQL's guides
      [
        'postgresql://app:pw@/diana?host=/cloudsql/proj:eu:db',
        'postgresql://app:pw@localhost/diana?host=/cloudsql/proj:eu:db',
      ],
      ['postgres://:5433/diana?host=/tmp', 'postgres://localhost:5433/diana?host=/tmp'],
      // psql's docs: postgresql://%2Fvar%2Flib%2Fpostgresql/dbname
      [
        'postgres://app@%2Fvar%2Frun%2Fpostgresql/diana',
        'postgres://app@localhost/diana?host=%2Fvar%2Frun%2Fpostgresql',
      ],
      ['postgres://%2Ftmp:5433/diana?sslmode=disable', 'postgres://localhost:5433/diana?sslmode=disable&host=%2Ftmp'],
      ['postgres://%2Ftmp', 'postgres://localhost/?host=%2Ftmp'],
    ];
    for (const [raw, read] of cases) {
      expect(libpqSocketUrl(raw), raw).toBe(read);
      expect(new URL(read).searchParams.get('host'), raw).toMatch(/^\//);
      expect(v.safeParse(pg, raw).success, raw).toBe(true);
    }
    expect(maskUrl('postgresql://app:s3cret@/diana?host=/cloudsql/x')).toBe('postgresql://app:***@localhost/diana?***');
    // left as they are, and refused or read as before
    for (const raw of [
      'postgres:///diana?host=/var/run/postgresql',
      'postgres://app:pw@db:5432/diana',
      'postgres://app:pw@/diana', // an empty host and nowhere else to go
      'postgres://app@%2Ftmp/diana?host=/other', // two directories
      'postgres://app:pw@/diana?host=/tmp#x',
      'redis://app@/0?host=/tmp',
    ])
      expect(libpqSocketUrl(raw), raw).toBe(raw);
    expect(v.safeParse(pg, 'postgres://app:pw@/diana').success).toBe(false);
    expect(v.safeParse(pg, 'postgres://app@%2Ftmp/diana?host=/other').success).toBe(false);
  });

  it('refuses credentials in a plain URL string (they would show in clear)', () => {
    const https = urlString({ protocols: ['https'] });
    expect(v.parse(https, 'https://bot.example.com/hook?x=1')).toBe('https://bot.example.com/hook?x=1');
    expect(v.safeParse(https, 'https://user:pw@bot.example.com/hook').success).toBe(false);
    expect(v.safeParse(https, 'https://user@bot.example.com/hook').success).toBe(false);
  });

  it('masks the password and the whole query, and shows any malformed URL as [invalid url]', () => {
    expect(maskUrl('postgres://app:pw1@db/x?sslmode=require&password=pw2#pw3')).toBe('postgres://app:***@db/x?***');
    // a password with an unencoded `?` after its `@`: its tail is a query key (a property test found it)
    expect(maskUrl('redis://app:Zq8Xw@3?Kv6Jmdb.example:5432/x')).toBe('redis://app:***@3?***');
    expect(maskUrl('postgres:app:s3cret-pw@db.invalid/diana')).toBe('[invalid url]');
    expect(maskUrl('postgres://app:s3cret@pw@db/diana')).toBe('[invalid url]');
  });

  it('marks secret schemas, also when wrapped in optional', () => {
    expect(isSecretSchema(secret())).toBe(true);
    expect(isSecretSchema(v.optional(secretUrl()))).toBe(true);
    expect(isSecretSchema(urlString())).toBe(false);
    expect(isUrlSchema(v.optional(urlString()))).toBe(true);
    expect(isUrlSchema(secretUrl())).toBe(true);
    expect(isUrlSchema(secret())).toBe(false);
    expect(isSecretSchema(v.optional(coerceInt(), 1))).toBe(false);
  });
});
