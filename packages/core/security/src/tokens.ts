import { createHmac, randomBytes } from 'node:crypto';
import type { Database } from '@diana/db';
import { type Clock, DianaError, isUnstorableText, newId, revealSecret, SYSTEM_CLOCK } from '@diana/utils';
import type { SecurityConfigInput } from './config.js';
import { SECURITY_ERROR_CODES } from './errors.js';
import { parseSecurityConfig } from './settings.js';

/** A record's columns, as every statement returns them. */
const COLUMNS = ['id', 'purpose', 'data', 'created_at', 'expires_at', 'used_at', 'used_by', 'revoked_at'];

/** Token length: 32 base64url characters = 192 random bits. */
const TOKEN = /^[A-Za-z0-9_-]{32}$/;
const PURPOSE = /^[a-z][a-z0-9_.]{0,63}$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** 100 years: a later expiry (past year 9999, or no date at all) is one PostgreSQL cannot read. */
const MAX_TTL_MS = 36_500 * 86_400_000;

/** A token as stored (never the token itself). */
export interface TokenRecord {
  readonly id: string;
  readonly purpose: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly created_at: Date;
  readonly expires_at: Date;
  readonly used_at: Date | null;
  readonly used_by: string | null;
  /** When `revoke` ended it (null: never revoked). */
  readonly revoked_at: Date | null;
}

/** Single-use, expiring tokens stored as keyed hashes in `security_tokens`. */
export interface TokenService {
  /** A new token (shown once; only its hash is kept) and its record. */
  issue(options: {
    purpose: string;
    ttl_ms: number;
    data?: Record<string, unknown>;
  }): Promise<{ token: string; record: TokenRecord }>;
  /**
   * Marks the token used and returns its record — atomically: of concurrent redeems exactly
   * one succeeds. Refuses with `E_SECURITY_TOKEN_MALFORMED`, `E_SECURITY_TOKEN_UNKNOWN` (also for another
   * purpose), `E_SECURITY_TOKEN_EXPIRED`, `E_SECURITY_TOKEN_REVOKED` or `E_SECURITY_TOKEN_USED`. Joins the
   * caller's transaction.
   */
  redeem(token: string, purpose: string, options?: { by?: string }): Promise<TokenRecord>;
  /**
   * Ends an unredeemed token now (`revoked_at` set; a redeem gets `E_SECURITY_TOKEN_REVOKED`), named by
   * the token or its record id; returns the record. Refuses like `redeem`: `E_SECURITY_TOKEN_MALFORMED`,
   * `E_SECURITY_TOKEN_UNKNOWN` (also for another purpose), `E_SECURITY_TOKEN_USED`, `E_SECURITY_TOKEN_EXPIRED`,
   * `E_SECURITY_TOKEN_REVOKED` (revoked already).
   */
  revoke(ref: { readonly token: string } | { readonly id: string }, purpose: string): Promise<TokenRecord>;
  /** Deletes tokens expired, used or revoked before `before`; returns how many. */
  purge(before: Date): Promise<number>;
}

interface Row {
  id: string;
  purpose: string;
  data: Record<string, unknown>;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  used_by: string | null;
  revoked_at: Date | null;
}

/** What `createTokenService` needs. */
export interface TokenServiceDeps {
  /** Where token records live (`security_tokens`); a redeem joins the caller's transaction. */
  readonly db: Database;
  /** Expiry is checked against this clock. @default SYSTEM_CLOCK */
  readonly clock?: Clock;
}

/** The token service over `db` with `config.token_pepper` (required, at least 32 characters). */
export function createTokenService(config: SecurityConfigInput, deps: TokenServiceDeps): TokenService {
  const settings = parseSecurityConfig(config);
  if (!settings.token_pepper)
    throw new DianaError(SECURITY_ERROR_CODES.SECURITY_CONFIG, 'token_pepper is required to issue tokens');
  const pepper = revealSecret(settings.token_pepper);
  const previous = settings.token_pepper_previous ? revealSecret(settings.token_pepper_previous) : undefined;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const hash = (token: string, key = pepper) => createHmac('sha256', key).update(token).digest();
  // a token's row, found by its hash under the pepper, or under the one before a rotation
  const byHash = (sql: ReturnType<Database['session']>, token: string) =>
    previous === undefined
      ? sql`token_hash = ${hash(token)}`
      : sql`token_hash in (${hash(token)}, ${hash(token, previous)})`;
  const checkPurpose = (purpose: string) => {
    if (!PURPOSE.test(purpose))
      throw new DianaError(SECURITY_ERROR_CODES.SECURITY_CONFIG, 'a purpose is [a-z][a-z0-9_.]{0,63}', {
        context: { purpose: String(purpose).slice(0, 80) },
      });
  };
  const refuse = (code: string, message: string) => new DianaError(code, message);
  // why a token the statement did not take was not taken, from its row as it stands
  const refusal = (row: Row | undefined) => {
    if (!row) return refuse(SECURITY_ERROR_CODES.TOKEN_UNKNOWN, 'no such token');
    if (row.used_at) return refuse(SECURITY_ERROR_CODES.TOKEN_USED, 'this token was already used');
    if (row.revoked_at) return refuse(SECURITY_ERROR_CODES.TOKEN_REVOKED, 'this token was revoked');
    return refuse(SECURITY_ERROR_CODES.TOKEN_EXPIRED, 'this token has expired');
  };

  return {
    async issue({ purpose, ttl_ms, data = {} }) {
      checkPurpose(purpose);
      if (!Number.isSafeInteger(ttl_ms) || ttl_ms <= 0 || ttl_ms > MAX_TTL_MS)
        throw new DianaError(
          SECURITY_ERROR_CODES.SECURITY_CONFIG,
          `ttl_ms must be a whole number from 1 to ${MAX_TTL_MS} (100 years)`,
          { context: { ttl_ms: String(ttl_ms) } },
        );
      const json = dataJson(data);
      const token = randomBytes(24).toString('base64url');
      const now = clock.now();
      const sql = deps.db.session();
      const [row] = await sql<Row[]>`
        insert into security_tokens (id, purpose, token_hash, data, created_at, expires_at)
        values (${newId()}, ${purpose}, ${hash(token)}, ${json}::text::jsonb,
                ${new Date(now)}, ${new Date(now + ttl_ms)})
        returning ${sql(COLUMNS)}`;
      return { token, record: Object.freeze(row as Row) };
    },

    async redeem(token, purpose, options = {}) {
      if (typeof token !== 'string' || !TOKEN.test(token))
        throw refuse(SECURITY_ERROR_CODES.TOKEN_MALFORMED, 'that is not a token');
      checkPurpose(purpose);
      const sql = deps.db.session();
      const now = new Date(clock.now());
      // one statement: the row lock makes concurrent redeems queue, and each re-checks used_at
      const [used] = await sql<Row[]>`
        update security_tokens set used_at = ${now}, used_by = ${options.by ?? null}
        where ${byHash(sql, token)} and purpose = ${purpose}
          and used_at is null and revoked_at is null and expires_at > ${now}
        returning ${sql(COLUMNS)}`;
      if (used) return Object.freeze(used);
      const [row] = await sql<Row[]>`
        select ${sql(COLUMNS)}
        from security_tokens where ${byHash(sql, token)} and purpose = ${purpose}`;
      throw refusal(row);
    },

    async revoke(ref, purpose) {
      const byToken = 'token' in ref;
      if (
        byToken
          ? typeof ref.token !== 'string' || !TOKEN.test(ref.token)
          : typeof ref.id !== 'string' || !ID.test(ref.id)
      )
        throw refuse(SECURITY_ERROR_CODES.TOKEN_MALFORMED, 'that is not a token or a token id');
      checkPurpose(purpose);
      const sql = deps.db.session();
      const now = new Date(clock.now());
      const match = byToken ? byHash(sql, ref.token) : sql`id = ${ref.id}`;
      const [revoked] = await sql<Row[]>`
        update security_tokens set revoked_at = ${now}
        where ${match} and purpose = ${purpose} and used_at is null and revoked_at is null and expires_at > ${now}
        returning ${sql(COLUMNS)}`;
      if (revoked) return Object.freeze(revoked);
      const [row] = await sql<Row[]>`
        select ${sql(COLUMNS)}
        from security_tokens where ${match} and purpose = ${purpose}`;
      throw refusal(row);
    },

    async purge(before) {
      const rows = await deps.db.session()`
        delete from security_tokens
        where expires_at < ${before} or used_at < ${before} or revoked_at < ${before} returning 1`;
      return rows.length;
    },
  };
}

/** `data` as JSON that jsonb stores, or `E_SECURITY_CONFIG` (a BigInt, a cycle, U+0000, a lone surrogate). */
function dataJson(data: Record<string, unknown>): string {
  let storable = true;
  let json: string | undefined;
  try {
    json = JSON.stringify(data, (key, value: unknown) => {
      if (isUnstorableText(key) || (typeof value === 'string' && isUnstorableText(value))) storable = false;
      return value;
    });
  } catch (error) {
    throw new DianaError(SECURITY_ERROR_CODES.SECURITY_CONFIG, 'token data must be JSON', { cause: error });
  }
  if (json === undefined || !storable)
    throw new DianaError(
      SECURITY_ERROR_CODES.SECURITY_CONFIG,
      'token data must be a JSON object without U+0000 or lone surrogates (PostgreSQL cannot store them)',
    );
  return json;
}
