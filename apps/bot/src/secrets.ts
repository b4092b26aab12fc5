// Secrets of the embedded default: generated once under the data directory (mode 0600), so a
// fresh clone runs with no configuration. With a real database they must be configured: each
// process generating its own would make one process's buttons fail in another.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_ERROR_CODES } from '@diana/config';
import type { SecurityConfig } from '@diana/security';
import { createSecret, DianaError } from '@diana/utils';

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
    stored = JSON.parse(readFileSync(file, 'utf8'));
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
