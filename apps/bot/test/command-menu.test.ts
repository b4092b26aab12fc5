import { describe, expect, it } from 'vitest';
import { createCommandMenu } from '../src/command-menu.js';

/** A logger that keeps its warnings. */
const recorder = () => {
  const warnings: string[] = [];
  const logger = {
    warn: (_obj: unknown, msg: string) => warnings.push(msg),
    info: () => {},
    debug: () => {},
    error: () => {},
    child: () => logger,
  };
  return { logger: logger as never, warnings };
};

describe('the command menu', () => {
  it('never stops the bot: Telegram or the database failing is a warning each', async () => {
    const { logger, warnings } = recorder();
    const refused = () => Promise.reject(new Error('Bad Request: chat not found'));
    const menu = createCommandMenu({
      api: () => ({ setMyCommands: refused, deleteMyCommands: refused }) as never,
      db: { sql: () => Promise.reject(new Error('connection refused')) } as never,
      users: { getByTelegramId: () => Promise.reject(new Error('connection refused')) } as never,
      owners: [7],
      logger,
    });
    await expect(menu.registerAll()).resolves.toBeUndefined();
    // the default menu, the staff list, the owner's menu
    expect(warnings).toEqual([
      'could not register the command menu with Telegram',
      'could not list the staff for their command menus',
      'could not register the command menu with Telegram',
    ]);
    await expect(menu.refresh(8)).resolves.toBeUndefined();
    await expect(menu.refresh(7)).resolves.toBeUndefined(); // an owner: no database read needed
    expect(warnings.slice(3)).toEqual([
      'could not read a role for the command menu',
      'could not register the command menu with Telegram',
    ]);
  });
});
