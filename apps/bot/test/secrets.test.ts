import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecurityConfig } from '@diana/security';
import { revealSecret } from '@diana/utils';
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveSecrets } from '../src/secrets.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'diana-secrets-'));
  dirs.push(dir);
  return dir;
}
const mode = (path: string) => statSync(path).mode & 0o777;
const security = () => v.parse(SecurityConfig, {});

describe('resolveSecrets (embedded)', () => {
  it('tightens an existing secrets.json written 0644 to 0600 and keeps its secrets', () => {
    const dir = dataDir();
    const file = join(dir, 'secrets.json');
    const stored = { callback_secret: 'c'.repeat(43), token_pepper: 'p'.repeat(43) };
    writeFileSync(file, JSON.stringify(stored));
    chmodSync(file, 0o644);

    const resolved = resolveSecrets(security(), { embedded: true, data_dir: dir });

    expect(mode(file)).toBe(0o600);
    expect(revealSecret(resolved.callback_secret as never)).toBe(stored.callback_secret);
    expect(revealSecret(resolved.token_pepper as never)).toBe(stored.token_pepper);
  });

  it('rewrites an incomplete 0644 secrets.json as 0600 (a write keeps an existing file mode)', () => {
    const dir = dataDir();
    const file = join(dir, 'secrets.json');
    writeFileSync(file, '{}');
    chmodSync(file, 0o644);

    resolveSecrets(security(), { embedded: true, data_dir: dir });

    expect(mode(file)).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).callback_secret).toHaveLength(43);
  });

  it('creates secrets.json 0600 in a new 0700 data directory', () => {
    const dir = join(dataDir(), 'new');
    resolveSecrets(security(), { embedded: true, data_dir: dir });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'secrets.json'))).toBe(0o600);
  });
});
