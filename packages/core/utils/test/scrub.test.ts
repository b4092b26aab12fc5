import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, scrubDeep, scrubString } from '../src/scrub.js';

const TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'.split('');
const SAFE_CHARS = 'abcdefghijklmnopqrstuvwxyz ABCDEF.,;!?()[]{}<>=+é日'.split('');

const botToken = fc
  .tuple(
    fc.integer({ min: 10_000, max: 9_999_999_999 }),
    fc.array(fc.constantFrom(...TOKEN_CHARS), { minLength: 35, maxLength: 35 }),
  )
  .map(([id, chars]) => `${id}:${chars.join('')}`);
const password = fc
  .array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABC0123456789!$*-_.~@'.split('')), {
    minLength: 6,
    maxLength: 24,
  })
  .map((chars) => chars.join(''))
  // a password must hold something that is not in its neighbours (so a leak is detectable)
  .map((pw) => `Zq${pw}`);
const safeText = fc.array(fc.constantFrom(...SAFE_CHARS), { maxLength: 40 }).map((chars) => chars.join(''));

describe('scrubString', () => {
  it('removes any bot token, bare or in a Bot API URL, and keeps the text around it', () => {
    fc.assert(
      fc.property(safeText, botToken, safeText, fc.boolean(), (before, token, after, inUrl) => {
        const secretPart = token.slice(token.indexOf(':'));
        const middle = inUrl ? `https://api.telegram.org/bot${token}/sendMessage` : token;
        const out = scrubString(`${before} ${middle} ${after}`);
        expect(out).not.toContain(secretPart);
        expect(out.startsWith(`${before} `)).toBe(true);
        expect(out.endsWith(` ${after}`)).toBe(true);
        expect(out).toContain(REDACTED);
      }),
    );
  });

  it('removes the password of any connection URL and keeps scheme, user and host', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('postgres', 'postgresql', 'redis', 'rediss', 'mongodb+srv', 'amqp'),
        fc.constantFrom('diana', 'admin', ''),
        password,
        safeText,
        (scheme, user, pw, after) => {
          const out = scrubString(`connect ${scheme}://${user}:${pw}@db.internal:5432/app failed ${after}`);
          expect(out).not.toContain(pw);
          expect(out).toContain(`${scheme}://${user}:${REDACTED}@db.internal:5432/app failed ${after}`);
        },
      ),
    );
  });

  it('leaves text without secrets unchanged', () => {
    fc.assert(
      fc.property(safeText, (text) => {
        expect(scrubString(text)).toBe(text);
      }),
    );
  });

  it('scrubs tokens in query strings and authorization headers', () => {
    expect(scrubString('GET /x?user=1&token=abc123&page=2')).toBe(`GET /x?user=1&token=${REDACTED}&page=2`);
    expect(scrubString('Authorization: Bearer eyJhbGciOi.x.y')).toBe(`Authorization: Bearer ${REDACTED}`);
  });

  it('works on serialized JSON, stopping at escaped quotes', () => {
    const json = JSON.stringify({ msg: 'db "postgres://u:s3cretpw@h/db" down' });
    const out = scrubString(json);
    expect(out).not.toContain('s3cretpw');
    expect(JSON.parse(out).msg).toBe(`db "postgres://u:${REDACTED}@h/db" down`);
  });
});

describe('scrubDeep', () => {
  it('scrubs strings at any depth, in arrays, errors and their causes', () => {
    fc.assert(
      fc.property(botToken, password, fc.integer({ min: 1, max: 6 }), (token, pw, depth) => {
        let nested: unknown = { note: `token ${token}` };
        for (let i = 0; i < depth; i++) nested = { level: i, child: [nested] };
        const cause = new Error(`postgres://app:${pw}@db/x refused`);
        const error = new Error(`bot ${token} failed`, { cause });
        const out = JSON.stringify(scrubDeep({ nested, error: { message: error.message, cause: String(cause) } }));
        expect(out).not.toContain(token.slice(token.indexOf(':')));
        expect(out).not.toContain(pw);
        expect(out).toContain('refused');
        const scrubbed = scrubDeep(error);
        expect(scrubbed).toBeInstanceOf(Error);
        expect(scrubbed.message).toBe(`bot ${REDACTED} failed`);
        expect((scrubbed.cause as Error).message).not.toContain(pw);
        expect(scrubbed.stack).not.toContain(token.slice(token.indexOf(':')));
      }),
      { numRuns: 50 },
    );
  });

  it('survives cycles and keeps non-string values', () => {
    const value: Record<string, unknown> = { n: 1, ok: true, when: new Date(0) };
    value.self = value;
    const out = scrubDeep(value) as Record<string, unknown>;
    expect(out.n).toBe(1);
    expect(out.self).toBe(out);
    expect(out.when).toBeInstanceOf(Date);
  });
});
