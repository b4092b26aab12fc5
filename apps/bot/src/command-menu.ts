// The command menu Telegram shows beside the text field (`setMyCommands`): the user commands for
// everyone (default scope), and for each staff member a menu of their own (a `chat` scope) with
// the staff commands their role may run. Registered at start and again when someone's role
// changes. Telegram failing here never stops the bot: each failure is one warning.
import type { Database, UserRepository } from '@diana/db';
import type { Logger } from '@diana/utils';
import type { Api } from 'grammy';
import { isStaff, menuCommandsFor, STAFF_ROLES } from './commands.js';

/** Keeps Telegram's command menus in step with the catalog and the users' roles. */
export interface CommandMenu {
  /** The default menu, then one per staff member (from `users`) and per configured owner. Never rejects. */
  registerAll(): Promise<void>;
  /** The menu of one user after a role change: their own as staff, the default one otherwise. Never rejects. */
  refresh(telegram_id: number): Promise<void>;
}

/** What the command menu needs. */
export interface CommandMenuDeps {
  /** The bot's API (read when used: the bot is built after the modules). */
  readonly api: () => Api;
  readonly db: Database;
  readonly users: UserRepository;
  /** `owner_telegram_ids`: owners get their menu even before their first message. */
  readonly owners: readonly number[];
  readonly logger: Logger;
}

export function createCommandMenu(deps: CommandMenuDeps): CommandMenu {
  const { logger } = deps;
  const attempt = async (what: Record<string, unknown>, call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (error) {
      logger.warn({ err: error, ...what }, 'could not register the command menu with Telegram');
    }
  };
  const setFor = (telegram_id: number, role: string) =>
    attempt({ telegram_id, role }, () =>
      deps.api().setMyCommands(menuCommandsFor(role), { scope: { type: 'chat', chat_id: telegram_id } }),
    );
  // read from `users` itself: the app's cached row may predate the change
  const roleOf = async (telegram_id: number) =>
    deps.owners.includes(telegram_id) ? 'OWNER' : (await deps.users.getByTelegramId(telegram_id))?.role;

  return {
    async registerAll() {
      await attempt({ scope: 'default' }, () => deps.api().setMyCommands(menuCommandsFor('FREE')));
      let staff: Array<{ telegram_id: number; role: string }> = [];
      try {
        const rows = await deps.db.sql<{ telegram_id: string; role: string }[]>`
          select telegram_id::text, role from users where role = any(${[...STAFF_ROLES]}::text[]) order by telegram_id`;
        staff = rows.map((r) => ({ telegram_id: Number(r.telegram_id), role: r.role }));
      } catch (error) {
        logger.warn({ err: error }, 'could not list the staff for their command menus');
      }
      // an owner not yet written to the table is an owner all the same (made OWNER on first sight)
      const listed = new Set(staff.map((s) => s.telegram_id));
      for (const owner of deps.owners) if (!listed.has(owner)) staff.push({ telegram_id: owner, role: 'OWNER' });
      for (const { telegram_id, role } of staff)
        await setFor(telegram_id, deps.owners.includes(telegram_id) ? 'OWNER' : role);
    },
    async refresh(telegram_id) {
      let role: string | undefined;
      try {
        role = await roleOf(telegram_id);
      } catch (error) {
        logger.warn({ err: error, telegram_id }, 'could not read a role for the command menu');
        return;
      }
      if (role !== undefined && isStaff(role)) await setFor(telegram_id, role);
      // no longer staff: their own menu goes, Telegram shows them the default one
      else
        await attempt({ telegram_id, role }, () =>
          deps.api().deleteMyCommands({ scope: { type: 'chat', chat_id: telegram_id } }),
        );
    },
  };
}
