import { DianaError, newId, parseOrThrow } from '@diana/utils';
import * as v from 'valibot';
import { DB_ERROR_CODES } from './errors.js';
import type { Database } from './postgres.js';

/** Roles, highest first; `users.role` is their one authoritative home. */
export const USER_ROLES = ['OWNER', 'ADMIN', 'MODERATOR', 'CONTENT_CREATOR', 'VIP', 'FREE', 'BANNED'] as const;
/** A user's role. */
export type UserRole = (typeof USER_ROLES)[number];

/** `blocked`: the user blocked the bot (no more sends); `banned`: an admin banned the user. */
export const USER_STATUSES = ['active', 'blocked', 'banned'] as const;
/** A user's status. */
export type UserStatus = (typeof USER_STATUSES)[number];

/** A row of `users`. */
export interface User {
  readonly id: string;
  readonly telegram_id: number;
  readonly username: string | null;
  readonly first_name: string;
  readonly last_name: string | null;
  readonly language_code: string | null;
  readonly role: UserRole;
  readonly status: UserStatus;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly last_seen_at: Date | null;
}

const text = (max: number) =>
  v.pipe(
    v.string(),
    v.maxLength(max, `must be at most ${max} characters`),
    v.check((s) => !s.includes('\u0000'), 'must not contain NUL characters'),
  );
const optionalText = (max: number) => v.optional(v.nullable(text(max)), null);

/** The Telegram `User` fields the repository stores (ids above 2^52 do not exist). */
export const TelegramUserInput = v.object({
  id: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  username: optionalText(64),
  first_name: v.pipe(text(128), v.minLength(1, 'must not be empty')),
  last_name: optionalText(128),
  language_code: optionalText(16),
});
/** Input of `upsertFromTelegram`. */
export type TelegramUserInput = v.InferInput<typeof TelegramUserInput>;

const UserId = v.pipe(v.string(), v.uuid('must be a user id (UUID)'));
const Role = v.picklist(USER_ROLES, `must be one of ${USER_ROLES.join(', ')}`);
const Status = v.picklist(USER_STATUSES, `must be one of ${USER_STATUSES.join(', ')}`);

/** Users by id and by Telegram id. Every write is validated first; invalid input writes nothing. */
export interface UserRepository {
  /**
   * Creates the user on first sight (seen now: `last_seen_at` is set) or refreshes names and
   * language; `created` says which.
   */
  upsertFromTelegram(from: TelegramUserInput): Promise<{ user: User; created: boolean }>;
  getById(id: string): Promise<User | undefined>;
  getByTelegramId(telegramId: number): Promise<User | undefined>;
  setRole(id: string, role: UserRole): Promise<User>;
  setStatus(id: string, status: UserStatus): Promise<User>;
  /** Sets `last_seen_at` (callers throttle: the bot writes it at most every five minutes). */
  touchLastSeen(id: string, at?: Date): Promise<void>;
  /** How many users have each role. */
  countByRole(): Promise<Partial<Record<UserRole, number>>>;
}

interface UserRow extends Omit<User, 'telegram_id'> {
  telegram_id: string | number;
}

/** The repository over `db`; it joins the transaction in progress (`db.session()`). */
export function createUserRepository(db: Database): UserRepository {
  const invalid = { code: DB_ERROR_CODES.USER_INVALID, message: 'invalid user' };
  const one = async (rows: Promise<UserRow[]>, id: string) => {
    const [row] = await rows;
    if (!row) throw new DianaError(DB_ERROR_CODES.USER_NOT_FOUND, `user ${id} does not exist`, { context: { id } });
    return toUser(row);
  };

  return {
    async upsertFromTelegram(from) {
      const input = parseOrThrow(TelegramUserInput, from, invalid);
      const sql = db.session();
      const [row] = await sql<(UserRow & { created: boolean })[]>`
        insert into users (id, telegram_id, username, first_name, last_name, language_code, last_seen_at)
        values (${newId()}, ${input.id}, ${input.username}, ${input.first_name}, ${input.last_name}, ${input.language_code}, now())
        on conflict (telegram_id) do update set
          username = excluded.username,
          first_name = excluded.first_name,
          last_name = excluded.last_name,
          language_code = excluded.language_code,
          updated_at = case
            when (users.username, users.first_name, users.last_name, users.language_code)
                 is distinct from (excluded.username, excluded.first_name, excluded.last_name, excluded.language_code)
            then now() else users.updated_at end
        returning *, (xmax = 0) as created`;
      if (!row) throw new DianaError(DB_ERROR_CODES.QUERY, 'upsert returned no row');
      return { user: toUser(row), created: row.created };
    },

    async getById(id) {
      const key = parseOrThrow(UserId, id, invalid);
      const [row] = await db.session()<UserRow[]>`select * from users where id = ${key}`;
      return row ? toUser(row) : undefined;
    },

    async getByTelegramId(telegramId) {
      const key = parseOrThrow(TelegramUserInput.entries.id, telegramId, invalid);
      const [row] = await db.session()<UserRow[]>`select * from users where telegram_id = ${key}`;
      return row ? toUser(row) : undefined;
    },

    async setRole(id, role) {
      const key = parseOrThrow(UserId, id, invalid);
      const next = parseOrThrow(Role, role, invalid);
      return one(
        db.session()<UserRow[]>`
        update users set role = ${next}, updated_at = now() where id = ${key} returning *`,
        key,
      );
    },

    async setStatus(id, status) {
      const key = parseOrThrow(UserId, id, invalid);
      const next = parseOrThrow(Status, status, invalid);
      return one(
        db.session()<UserRow[]>`
        update users set status = ${next}, updated_at = now() where id = ${key} returning *`,
        key,
      );
    },

    async touchLastSeen(id, at = new Date()) {
      const key = parseOrThrow(UserId, id, invalid);
      const when = parseOrThrow(v.date(), at, invalid);
      await db.session()`update users set last_seen_at = ${when} where id = ${key}`;
    },

    async countByRole() {
      const rows = await db.session()<{ role: UserRole; n: number }[]>`
        select role, count(*)::int as n from users group by role`;
      return Object.fromEntries(rows.map((row) => [row.role, row.n]));
    },
  };
}

// Field by field (not a spread): one object shape for every user, and no column the
// statement added (`created`) leaks into it.
function toUser(row: UserRow): User {
  return {
    id: row.id,
    telegram_id: Number(row.telegram_id),
    username: row.username,
    first_name: row.first_name,
    last_name: row.last_name,
    language_code: row.language_code,
    role: row.role,
    status: row.status,
    created_at: row.created_at,
    updated_at: row.updated_at,
    last_seen_at: row.last_seen_at,
  };
}
