// The transcripts in the README are what the bot says today: each scenario is replayed through
// the console chat on a private database and compared with the README (dates, times and one-time
// tokens aside). A reply that changed fails here until `pnpm transcript` is run again.
import { readFileSync } from 'node:fs';
import { createTestDatabase } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { listScenarios, normalizeTranscript, readTranscript, replay } from '../scripts/replay.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const scenarios = listScenarios();

describe('README transcripts', () => {
  it('has at least the new user and the admin scenarios', () => {
    expect(scenarios.map((s) => s.name)).toEqual(expect.arrayContaining(['admin', 'new-user']));
  });

  it('masks the hour with its article: a README written at 13:05 matches a replay at 1:05', () => {
    expect(normalizeTranscript('> /perfil\nÚltima actividad: hoy a la 1:05')).toBe(
      normalizeTranscript('> /perfil\nÚltima actividad: hoy a las 13:05'),
    );
  });

  it("compares a step's last balance: its notices may come in one message or in two, each ending with one", () => {
    const one = '> 1\nLucien\n💋 +5 besitos por tu decisión.\n💋 +1 besito por avanzar.\nAhora tienes 106 besitos.';
    const two =
      '> 1\nLucien\n💋 +5 besitos por tu decisión.\nAhora tienes 105 besitos.\n💋 +1 besito por avanzar.\nAhora tienes 106 besitos.';
    expect(normalizeTranscript(two)).toBe(normalizeTranscript(one));
    // a different final balance is a change
    expect(normalizeTranscript(one.replace('106', '107'))).not.toBe(normalizeTranscript(one));
  });

  for (const { name, lines } of scenarios)
    it(`${name}: the README shows what a replay shows (pnpm transcript rewrites it)`, async () => {
      const shown = readTranscript(readme, name);
      expect(shown, `README.md has no transcript:${name} markers`).toBeDefined();
      const db = await createTestDatabase(`transcript-${name}`);
      const replayed = await replay(lines, { database_url: db.url }).finally(() => db.drop());
      expect(normalizeTranscript(replayed)).toBe(normalizeTranscript(shown as string));
    }, 120_000);
});
