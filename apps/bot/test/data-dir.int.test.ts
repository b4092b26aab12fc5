// A data directory the bot cannot use stops the start with one line naming the path and the fix
// (the console chat started in a child process; before, a raw stack).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTempDir } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { logFileProblem } from '../src/data-dir.js';
import { killChildBots, startBot } from './child-bot.js';

afterAll(killChildBots);

/** The one line a failed start printed: nothing else on stderr, no stack. */
const oneLine = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0] as string;
};

describe('a data directory that cannot be used', () => {
  it('DIANA_BOT_DATA_DIR naming a regular file: exit 1, one line naming it and the fix', async () => {
    const file = join(useTempDir('diana-data-file-'), 'not-a-dir');
    writeFileSync(file, 'x');
    const bot = startBot({ DIANA_BOT_DATA_DIR: file, DIANA_BOT_HTTP_PORT: '0' });
    expect(await bot.exited).toBe(1);
    expect(oneLine(bot.errors())).toBe(
      `No se pudo arrancar: start failed: the log file ${join(file, 'bot.log')} cannot be created: ${file} is a file, not a directory; set DIANA_BOT_DATA_DIR to a directory, or move that file aside`,
    );
  }, 60_000);

  it('a data directory under a regular file, and a log file that is a directory: the same one line', async () => {
    const dir = useTempDir('diana-data-under-');
    writeFileSync(join(dir, 'f'), 'x');
    const under = startBot({ DIANA_BOT_DATA_DIR: join(dir, 'f', 'data'), DIANA_BOT_HTTP_PORT: '0' });
    expect(await under.exited).toBe(1);
    expect(oneLine(under.errors())).toContain(`${join(dir, 'f', 'data')} is a file, not a directory`);
    const polling = startBot({
      DIANA_BOT_DATA_DIR: dir,
      DIANA_BOT_LOG_FILE: dir,
      DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:data-dir-token',
      DIANA_BOT_HTTP_PORT: '0',
    });
    expect(await polling.exited).toBe(1);
    expect(oneLine(polling.errors())).toBe(
      `diana-bot: start failed: the log file ${dir} is a directory; set DIANA_BOT_LOG_FILE to another path, or move that directory aside`,
    );
  }, 60_000);

  it('a read-only or forbidden place is named with its code and the setting to change', () => {
    const error = (code: string, path: string) => Object.assign(new Error(code), { code, path });
    expect(logFileProblem('/ro/data/bot.log', 'DIANA_BOT_DATA_DIR', error('EROFS', '/ro/data'))).toBe(
      'the log file /ro/data/bot.log cannot be written (EROFS on /ro/data); set DIANA_BOT_DATA_DIR to a path this user can write',
    );
    expect(logFileProblem('/srv/bot.log', 'DIANA_BOT_LOG_FILE', error('EACCES', '/srv/bot.log'))).toBe(
      'the log file /srv/bot.log cannot be written (EACCES on /srv/bot.log); set DIANA_BOT_LOG_FILE to a path this user can write',
    );
  });

  it('a secrets.json that is not JSON: one line naming the file and the fix (before, only "Unexpected token")', async () => {
    const dir = useTempDir('diana-bad-secrets-');
    writeFileSync(join(dir, 'secrets.json'), 'not json{');
    const bot = startBot({ DIANA_BOT_DATA_DIR: dir, DIANA_BOT_HTTP_PORT: '0' });
    expect(await bot.exited).toBe(1);
    const line = oneLine(bot.errors());
    expect(line).toMatch(
      new RegExp(
        `^No se pudo arrancar: start failed: ${escapeRegExp(join(dir, 'secrets.json'))} is not a secrets file of this bot \\(Unexpected token`,
      ),
    );
    expect(line).toContain('restore it from a backup, or move it aside to have new secrets generated');
  }, 60_000);

  it('a pg/ directory that is not a database: one line naming the directory and the fix (before, only "PGlite failed to initialize properly")', async () => {
    const dir = useTempDir('diana-bad-pg-');
    mkdirSync(join(dir, 'pg'));
    writeFileSync(join(dir, 'pg', 'PG_VERSION'), 'garbage');
    writeFileSync(join(dir, 'pg', 'notes.txt'), 'not a database');
    const bot = startBot({ DIANA_BOT_DATA_DIR: dir, DIANA_BOT_HTTP_PORT: '0' });
    expect(await bot.exited).toBe(1);
    expect(oneLine(bot.errors())).toBe(
      `No se pudo arrancar: start failed: postgres failed to start: the embedded database in ${join(dir, 'pg')} cannot be opened (PGlite failed to initialize properly): if it is not this bot's database (or is damaged), move that directory aside and start again (a new, empty one is made), or restore it from a backup`,
    );
  }, 60_000);
});

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
