import { createHmac } from 'node:crypto';
import { isDianaError } from '@diana/utils';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCallbackSigner, MIN_MAC_CHARS } from '../src/callback.js';

const signer = createCallbackSigner({ callback_secret: 'k'.repeat(40) });
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isDianaError(error) ? error.code : 'not a DianaError';
  }
};

const action = fc.stringMatching(/^[a-z][a-z0-9_.]{0,9}$/);
const arg = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{0,8}$/), fc.integer({ min: -1_000_000, max: 1_000_000 }));
const userId = fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined });

describe('signed callback data', () => {
  it('sign → verify round-trips for any args that fit, within 64 bytes', () => {
    fc.assert(
      fc.property(action, fc.array(arg, { maxLength: 4 }), userId, (a, args, user) => {
        const data = signer.sign(a, args, { userId: user });
        expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
        expect(signer.verify(data, { userId: user })).toEqual({ action: a, args: args.map(String) });
        expect(signer.isSigned(data)).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });

  it('any single-byte change fails verification', () => {
    fc.assert(
      fc.property(
        action,
        fc.array(arg, { maxLength: 3 }),
        userId,
        fc.nat(),
        fc.integer({ min: 0x20, max: 0x7e }),
        (a, args, user, at, byte) => {
          const data = signer.sign(a, args, { userId: user });
          const i = at % data.length;
          fc.pre(data.charCodeAt(i) !== byte);
          const changed = data.slice(0, i) + String.fromCharCode(byte) + data.slice(i + 1);
          const code = codeOf(() => signer.verify(changed, { userId: user }));
          expect([
            'E_SECURITY_CALLBACK_TAMPERED',
            'E_SECURITY_CALLBACK_WRONG_USER',
            'E_SECURITY_CALLBACK_MALFORMED',
          ]).toContain(code);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('tells a button of another user, a forged one and an oversize one apart', () => {
    const mine = signer.sign('buy', ['item_7', 42], { userId: 1001 });
    expect(codeOf(() => signer.verify(mine, { userId: 2002 }))).toBe('E_SECURITY_CALLBACK_WRONG_USER');
    expect(codeOf(() => signer.verify(mine))).toBe('E_SECURITY_CALLBACK_WRONG_USER');
    const other = createCallbackSigner({ callback_secret: 'x'.repeat(40) });
    expect(codeOf(() => other.verify(signer.sign('buy', ['item_7'])))).toBe('E_SECURITY_CALLBACK_TAMPERED');
    expect(codeOf(() => signer.verify('buy|item_7'))).toBe('E_SECURITY_CALLBACK_MALFORMED');
    expect(codeOf(() => signer.sign('buy', ['x'.repeat(60)]))).toBe('E_SECURITY_CALLBACK_OVERSIZE');
    expect(codeOf(() => signer.sign('buy', ['has|pipe']))).toBe('E_SECURITY_CALLBACK_MALFORMED');
    expect(codeOf(() => signer.sign('Buy', []))).toBe('E_SECURITY_CALLBACK_MALFORMED');
    // the signature takes all the room left, never less than the minimum
    const short = signer.sign('a');
    expect(short.length).toBe('a~-'.length + 43);
    const tight = signer.sign('a', ['y'.repeat(64 - 'a|~-'.length - MIN_MAC_CHARS)]);
    expect(Buffer.byteLength(tight)).toBe(64);
    expect(signer.verify(tight).action).toBe('a');
  });

  it('signs exactly as an HMAC-SHA256 of the documented layout (buttons already sent keep verifying)', () => {
    const hmac = (kind: string, subject: string, payload: string) =>
      createHmac('sha256', 'k'.repeat(40)).update(`${kind}\u0000${subject}\u0000${payload}`).digest('base64url');
    const tag = hmac('user', '42', '').slice(0, 4);
    for (let round = 0; round < 2; round++) {
      // the second round finds the user's tag remembered: same data
      const data = signer.sign('story.choice', ['c1', 7], { userId: 42 });
      const room = 64 - 'story.choice|c1|7'.length - 1 - 5;
      expect(data).toBe(`story.choice|c1|7~=${tag}${hmac('callback', '42', 'story.choice|c1|7').slice(0, room)}`);
      expect(signer.sign('menu.open')).toBe(`menu.open~-${hmac('callback', '', 'menu.open').slice(0, 43)}`);
      expect(signer.verify(data, { userId: 42 })).toEqual({ action: 'story.choice', args: ['c1', '7'] });
      expect(codeOf(() => signer.verify(data, { userId: 43 }))).toBe('E_SECURITY_CALLBACK_WRONG_USER');
    }
  });

  it('a rotated key: buttons the key before it signed still verify, new ones are signed with the new key', () => {
    const old = createCallbackSigner({ callback_secret: 'o'.repeat(40) });
    const rotated = createCallbackSigner({ callback_secret: 'n'.repeat(40), callback_secret_previous: 'o'.repeat(40) });
    const bound = old.sign('story.choice', ['c1'], { userId: 42 });
    const open = old.sign('menu.open');
    // without the previous key a rotation broke every button sent: a user's own one read as another's
    const fresh = createCallbackSigner({ callback_secret: 'n'.repeat(40) });
    expect(codeOf(() => fresh.verify(bound, { userId: 42 }))).toBe('E_SECURITY_CALLBACK_WRONG_USER');
    expect(codeOf(() => fresh.verify(open))).toBe('E_SECURITY_CALLBACK_TAMPERED');
    expect(rotated.verify(bound, { userId: 42 })).toEqual({ action: 'story.choice', args: ['c1'] });
    expect(rotated.verify(open)).toEqual({ action: 'menu.open', args: [] });
    // new buttons carry the new key: the old signer does not take them, the new one alone does
    const made = rotated.sign('story.choice', ['c2'], { userId: 42 });
    expect(fresh.verify(made, { userId: 42 }).args).toEqual(['c2']);
    expect(codeOf(() => old.verify(made, { userId: 42 }))).toBe('E_SECURITY_CALLBACK_WRONG_USER');
    // neither key lets another user press an old button, nor a forged one through
    expect(codeOf(() => rotated.verify(bound, { userId: 43 }))).toBe('E_SECURITY_CALLBACK_WRONG_USER');
    const forged = createCallbackSigner({ callback_secret: 'e'.repeat(40) }).sign('menu.open');
    expect(codeOf(() => rotated.verify(forged))).toBe('E_SECURITY_CALLBACK_TAMPERED');
    expect(codeOf(() => rotated.verify(`${open.slice(0, -1)}${open.endsWith('A') ? 'B' : 'A'}`))).toBe(
      'E_SECURITY_CALLBACK_TAMPERED',
    );
  });

  it('needs a callback_secret of 32 characters', () => {
    expect(codeOf(() => createCallbackSigner({}))).toBe('E_SECURITY_CONFIG');
    expect(codeOf(() => createCallbackSigner({ callback_secret: 'short' }))).toBe('E_SECURITY_CONFIG');
  });
});
