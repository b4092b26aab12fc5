import { createCallbackSigner } from '@diana/security';
import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { loadAppSettings } from '../src/config.js';

function settingsError(env: Record<string, string>) {
  try {
    loadAppSettings(env, { env_file: false });
  } catch (error) {
    if (isDianaError(error)) return error;
    throw error;
  }
  return undefined;
}

describe('bot settings', () => {
  it('reads the keys before a rotation: a button signed with the previous callback secret still verifies; a short one is refused', () => {
    const old = createCallbackSigner({ callback_secret: 'o'.repeat(40) });
    const settings = loadAppSettings(
      {
        DIANA_SECURITY_CALLBACK_SECRET: 'n'.repeat(40),
        DIANA_SECURITY_CALLBACK_SECRET_PREVIOUS: 'o'.repeat(40),
        DIANA_SECURITY_TOKEN_PEPPER_PREVIOUS: 'q'.repeat(40),
      },
      { env_file: false },
    );
    const signer = createCallbackSigner(settings.security);
    expect(signer.verify(old.sign('menu.open', [], { userId: 7 }), { userId: 7 }).action).toBe('menu.open');
    expect(String(settings.security.token_pepper_previous)).toBe('[secret]'); // never printed
    // an empty one (compose's `${VAR:-}`) is unset; a short one is refused, named
    expect(
      loadAppSettings({ DIANA_SECURITY_CALLBACK_SECRET_PREVIOUS: '' }, { env_file: false }).security
        .callback_secret_previous,
    ).toBeUndefined();
    expect(settingsError({ DIANA_SECURITY_CALLBACK_SECRET_PREVIOUS: 'short' })?.message).toContain(
      'DIANA_SECURITY_CALLBACK_SECRET_PREVIOUS',
    );
  });

  it('refuses a time zone Node does not know, or an offset, naming the variable (before: start failed later, unnamed)', () => {
    for (const bad of ['Mars/Olympus', '+01:00']) {
      const error = settingsError({ DIANA_BOT_TIMEZONE: bad });
      expect(error?.code).toBe('E_CONFIG_SETTINGS_INVALID');
      expect(error?.message).toContain('DIANA_BOT_TIMEZONE: must be an IANA time zone name');
    }
    expect(loadAppSettings({ DIANA_BOT_TIMEZONE: 'America/Mexico_City' }, { env_file: false }).bot.timezone).toBe(
      'America/Mexico_City',
    );
  });

  it('refuses an owners list with an empty item (a stray comma would demote every OWNER), takes an empty one', () => {
    for (const bad of ['1,,2', ',', '900,']) {
      const error = settingsError({ DIANA_BOT_OWNER_TELEGRAM_IDS: bad });
      expect(error?.code).toBe('E_CONFIG_SETTINGS_INVALID');
      expect(error?.message).toContain('DIANA_BOT_OWNER_TELEGRAM_IDS: item');
      expect(error?.message).toContain('empty (a stray comma?)');
    }
    // Number() read these as 5 and 1000: two users made owners by a typo
    for (const bad of ['0b101, 1e3', '0x10']) {
      const error = settingsError({ DIANA_BOT_OWNER_TELEGRAM_IDS: bad });
      expect(error?.code, bad).toBe('E_CONFIG_SETTINGS_INVALID');
      expect(error?.message, bad).toContain('DIANA_BOT_OWNER_TELEGRAM_IDS: item 1: must be a number');
    }
    expect(
      loadAppSettings({ DIANA_BOT_OWNER_TELEGRAM_IDS: ' 900, 901 ' }, { env_file: false }).bot.owner_telegram_ids,
    ).toEqual([900, 901]);
    expect(loadAppSettings({ DIANA_BOT_OWNER_TELEGRAM_IDS: '' }, { env_file: false }).bot.owner_telegram_ids).toEqual(
      [],
    );
  });

  it('refuses an inbox retention below the dedupe window before anything starts, naming both variables', () => {
    const error = settingsError({
      DIANA_EVENT_BUS_INBOX_RETENTION_MS: '3600000',
      DIANA_EVENT_BUS_DEDUPE_TTL_MS: '86400000',
    });
    expect(error?.code).toBe('E_CONFIG_SETTINGS_INVALID');
    expect(error?.message).toContain('DIANA_EVENT_BUS_INBOX_RETENTION_MS: must be 0 or at least');
    expect(error?.message).toContain('DIANA_EVENT_BUS_DEDUPE_TTL_MS (86400000)');
    for (const ok of ['0', '86400000'])
      expect(
        loadAppSettings({ DIANA_EVENT_BUS_INBOX_RETENTION_MS: ok }, { env_file: false }).event_bus.inbox_retention_ms,
      ).toBe(Number(ok));
  });

  it('reads how long told payment notices are kept: 7 days unless set, 0 keeps them, a negative one refused', () => {
    const retention = (env: Record<string, string>) =>
      loadAppSettings(env, { env_file: false }).gamification.notice_retention_ms;
    expect(retention({})).toBe(7 * 86_400_000);
    expect(retention({ DIANA_GAMIFICATION_NOTICE_RETENTION_MS: '0' })).toBe(0);
    expect(retention({ DIANA_GAMIFICATION_NOTICE_RETENTION_MS: '86400000' })).toBe(86_400_000);
    expect(retention({ DIANA_GAMIFICATION_NOTICE_RETENTION_MS: '30d' })).toBe(30 * 86_400_000);
    // negative, and past PostgreSQL's range of times (7000y passed and failed every prune, a stranger saw)
    for (const bad of ['-1', '7000y', '9007199254740993']) {
      const error = settingsError({ DIANA_GAMIFICATION_NOTICE_RETENTION_MS: bad });
      expect(error?.code, bad).toBe('E_CONFIG_SETTINGS_INVALID');
      expect(error?.message).toContain('DIANA_GAMIFICATION_NOTICE_RETENTION_MS');
    }
  });
});
