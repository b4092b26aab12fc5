import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as standalone from '../src/settings.js';

// Every module the entry reaches, following relative imports; returns the packages it names.
function packagesBehind(entry: URL): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as URL;
    if (seen.has(file.href)) continue;
    seen.add(file.href);
    const source = readFileSync(file, 'utf8');
    for (const [, specifier] of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?from\s+'([^']+)'/g)) {
      if (specifier?.startsWith('.')) pending.push(new URL(specifier.replace(/\.js$/, '.ts'), file));
      else if (specifier) packages.add(specifier);
    }
  }
  return packages;
}

describe('@diana/config/settings', () => {
  it('has only @diana/utils, valibot and Node behind it', () => {
    const behind = [...packagesBehind(new URL('../src/settings.ts', import.meta.url))];
    expect(behind.filter((name) => !name.startsWith('node:')).sort()).toEqual(['@diana/utils', 'valibot']);
    // the walk itself finds what the whole package has behind it
    const whole = packagesBehind(new URL('../src/index.ts', import.meta.url));
    expect(whole.has('@diana/db')).toBe(true);
    expect(whole.has('@diana/event-bus')).toBe(true);
  });

  it('loads settings on its own', () => {
    const settings = standalone.loadSettings(
      { redis: standalone.RedisConfig },
      { REDIS_URL: 'redis://:pw@cache:6379/0' },
      { env_file: false },
    );
    expect(JSON.stringify(settings)).toBe('{"redis":{"url":"redis://:***@cache:6379/0"}}');
    expect(standalone.getVariableName('redis', 'url')).toBe('DIANA_REDIS_URL');
  });
});
