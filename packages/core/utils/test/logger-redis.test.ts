import { getRedisUrl } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { capture } from './capture.js';

// Our test Redis has no user `diana-test-nobody`, so authenticating as it fails with a reply
// error whose `command` carries the credentials, as it would against a server with a password.
const USER = 'diana-test-nobody';
const PASSWORD = 'S3cretRedisPw-4f9a';

async function until<T>(read: () => T | undefined, timeout_ms = 5_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const clients: Redis[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

describe('createLogger with real ioredis errors', () => {
  it('logs a failed AUTH without the password (the reply error carries the command arguments)', async () => {
    const client = new Redis(await getRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 0 });
    clients.push(client);
    client.on('error', () => {});
    await client.connect();
    const error = await client.auth(USER, PASSWORD).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // the leak this test is about: the error really holds the password
    expect(JSON.stringify(error)).toContain(PASSWORD);

    const { lines, destination } = capture();
    const logger = createLogger({ destination });
    logger.error({ err: error }, 'redis auth failed');
    logger.error(error as Error);
    logger.warn({ err: new Error('wrapped', { cause: error }) }, 'redis auth failed (as a cause)');

    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain(USER);
    }
    const first = JSON.parse(lines[0] ?? '{}');
    expect(first.err.message).toMatch(/^WRONGPASS/);
    expect(first.err.command).toBe('auth');
    expect(first.err).not.toHaveProperty('args');
    expect(JSON.parse(lines[2] ?? '{}').err.cause.command).toBe('auth');
  });

  it('logs the connection error of a client with a wrong password without the password', async () => {
    const url = new URL(await getRedisUrl());
    const client = new Redis({
      host: url.hostname,
      port: Number(url.port || 6379),
      username: USER,
      password: PASSWORD,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    clients.push(client);
    const { lines, destination } = capture();
    const logger = createLogger({ destination, level: 'debug' });
    // the same line the adapters write on a connection error
    client.on('error', (err) => logger.debug({ err }, 'redis connection error'));
    client.connect().catch(() => {});

    const line = await until(() => lines.find((l) => l.includes('WRONGPASS')));
    expect(line).not.toContain(PASSWORD);
    expect(JSON.parse(line).err.command).toBe('hello');
  });
});
