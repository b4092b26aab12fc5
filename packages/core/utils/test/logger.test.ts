import { describe, expect, it } from 'vitest';
import { createLogger, getPackageLogger, SILENT_LOGGER } from '../src/logger.js';
import { createSecret } from '../src/secret.js';
import { capture } from './capture.js';

const BOT_TOKEN = '7012345678:AAHfK3x_Q9mZ2pLr8sVt4wYb6cNd1eJg0oU';
const PG_PASSWORD = 'hunter2-very-secret';

describe('createLogger', () => {
  it('logs an error without the bot token of its message or the password of its cause', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, level: 'info' });
    const cause = new Error(`connect failed: postgres://diana:${PG_PASSWORD}@db.internal:5432/diana`);
    const error = new Error(`sendMessage to https://api.telegram.org/bot${BOT_TOKEN}/sendMessage timed out`, {
      cause,
    });
    logger.error({ err: error, update_id: 42 }, `handler failed for token ${BOT_TOKEN}`);

    expect(lines).toHaveLength(1);
    const out = lines[0] ?? '';
    expect(out).not.toContain(BOT_TOKEN);
    expect(out).not.toContain(BOT_TOKEN.split(':')[1]);
    expect(out).not.toContain(PG_PASSWORD);
    // the rest of the story is still there
    const line = JSON.parse(out);
    expect(line.msg).toBe('handler failed for token [REDACTED]');
    expect(line.update_id).toBe(42);
    expect(line.err.message).toContain('sendMessage to https://api.telegram.org/bot[REDACTED]/sendMessage timed out');
    expect(line.err.stack).toContain('timed out');
    expect(line.err.cause.message).toBe('connect failed: postgres://diana:[REDACTED]@db.internal:5432/diana');
  });

  it('censors known secret paths and shows secrets only by their label', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination });
    logger.info(
      {
        password: 'pw-in-plain-sight',
        headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-telegram-bot-api-secret-token': 'wh-secret-1' },
        settings: { webhook_secret: 'wh-secret-2', key: createSecret('hidden-value') },
      },
      'request',
    );
    const out = lines[0] ?? '';
    for (const leaked of ['pw-in-plain-sight', 'dXNlcjpwYXNz', 'wh-secret-1', 'wh-secret-2', 'hidden-value']) {
      expect(out).not.toContain(leaked);
    }
    expect(JSON.parse(out).settings.key).toBe('[secret]');
  });

  it('drops command arguments and secret-named properties from an error and the errors it carries', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination });
    const cause = Object.assign(new Error('WRONGPASS'), {
      command: { name: 'auth', args: ['alice', 'pw-of-the-cause'] },
      password: 'pw-as-a-property',
    });
    const error = Object.assign(new Error('login failed', { cause }), {
      command: '/start',
      args: ['pw-in-args'],
      errors: [Object.assign(new Error('inner'), { token: 'tok-of-an-aggregate' })],
    });
    logger.error({ err: error }, 'failed');
    const out = lines[0] ?? '';
    for (const leaked of ['pw-of-the-cause', 'pw-as-a-property', 'pw-in-args', 'tok-of-an-aggregate', 'alice']) {
      expect(out).not.toContain(leaked);
    }
    const line = JSON.parse(out);
    // a command that is only a name (not ioredis' { name, args }) is kept as it is
    expect(line.err.command).toBe('/start');
    expect(line.err.cause).toMatchObject({ message: 'WRONGPASS', command: 'auth', password: '[REDACTED]' });
    expect(line.err.aggregateErrors[0]).toMatchObject({ message: 'inner', token: '[REDACTED]' });

    const looped = Object.assign(new Error('loop'), { related: [] as Error[] });
    looped.related.push(looped);
    logger.error({ err: looped }, 'cycle');
    expect(JSON.parse(lines[1] ?? '{}').err.related).toEqual(['[Circular]']);
  });

  it('binds the package name in child loggers', () => {
    const { lines, destination } = capture();
    getPackageLogger(createLogger({ destination }), 'cache').warn({ key: 'k' }, 'slow');
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ pkg: 'cache', key: 'k', msg: 'slow', level: 'warn' });
  });

  it('has a silent default that accepts every call', () => {
    const logger = getPackageLogger(undefined, 'x');
    expect(logger).toBe(SILENT_LOGGER);
    expect(() => logger.error({ a: 1 }, 'nothing')).not.toThrow();
  });
});
