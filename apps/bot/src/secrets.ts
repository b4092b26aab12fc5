// Secrets of the embedded default: generated once under the data directory (mode 0600), so a
// fresh clone runs with no configuration. With a real database they must be configured: each
// process generating its own would make one process's buttons fail in another.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONFIG_ERROR_CODES } from '@diana/config';
import type { SecurityConfig } from '@diana/security';
import { createSecret, DianaError } from '@diana/utils';
import { BOT_ERROR_CODES } from './errors.js';

export function resolveSecrets(
  security: SecurityConfig,
  options: { embedded: boolean; data_dir: string },
): SecurityConfig {
  if (security.callback_secret && security.token_pepper) return security;
  if (!options.embedded)
    throw new DianaError(
      CONFIG_ERROR_CODES.SETTINGS_INVALID,
      'DIANA_SECURITY_CALLBACK_SECRET and DIANA_SECURITY_TOKEN_PEPPER (32+ characters each) are required with a database URL',
    );
  const file = join(options.data_dir, 'secrets.json');
  let stored: { callback_secret?: string; token_pepper?: string } = {};
  if (existsSync(file)) {
    // `mode` of writeFileSync applies only to a new file: an existing one (an older version
    // wrote it under the umask, 0644) is tightened here, before it is read or rewritten
    chmodSync(file, 0o600);
    stored = readStored(file);
  }
  if (!stored.callback_secret || !stored.token_pepper) {
    stored = {
      callback_secret: randomBytes(32).toString('base64url'),
      token_pepper: randomBytes(32).toString('base64url'),
    };
    mkdirSync(options.data_dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  }
  return {
    ...security,
    callback_secret: security.callback_secret ?? createSecret(stored.callback_secret as string),
    token_pepper: security.token_pepper ?? createSecret(stored.token_pepper as string),
  };
}

/**
 * The stored secrets, or `E_BOT_START_FAILED` naming the file and the fix when it is not what this
 * bot writes (a bare `JSON.parse` said only "Unexpected token 'o'…", naming no file).
 */
function readStored(file: string): { callback_secret?: string; token_pepper?: string } {
  let parsed: unknown;
  let reason: string | undefined;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) reason = 'not a JSON object';
  } catch (error) {
    reason = (error as Error).message;
  }
  if (reason === undefined) return parsed as { callback_secret?: string; token_pepper?: string };
  throw new DianaError(
    BOT_ERROR_CODES.START_FAILED,
    `${resolve(file)} is not a secrets file of this bot (${reason}): restore it from a backup, or move it aside to have new secrets generated (buttons already sent stop working)`,
    { context: { dependency: 'secrets', file: resolve(file) } },
  );
}
