// Replays a scenario (one console line per line: messages, button numbers, `/as <id>`) through
// the console chat on a private database, waiting after each line until every event it caused
// has been handled, and returns what the console showed. `pnpm transcript` writes the result
// into the bot's README; test/transcript.int.test.ts checks that the README still matches.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { loadSettings } from '@diana/config';
import { SILENT_LOGGER } from '@diana/utils';
import { type App, createApp } from '../src/app.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';
import { CONSOLE_BOT, createConsole, runConsole } from '../src/console.js';

/** The scenarios' folder: `<name>.txt`, shown in the README between `transcript:<name>` markers. */
export const SCENARIO_DIR = new URL('../transcripts/', import.meta.url);
/** The owner in every replay (the admin scenario switches to it with `/as 900`). */
export const TRANSCRIPT_OWNER = 900;

export function listScenarios(): Array<{ name: string; lines: string[] }> {
  return readdirSync(SCENARIO_DIR)
    .filter((file) => file.endsWith('.txt'))
    .sort()
    .map((file) => ({
      name: file.slice(0, -'.txt'.length),
      lines: readFileSync(new URL(file, SCENARIO_DIR), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('#')),
    }));
}

/** Every event published so far handled (`App.settle`); a replay that does not settle fails. */
async function settled(app: App): Promise<void> {
  if (!(await app.settle({ timeout_ms: 15_000 }))) throw new Error('the bot did not settle within 15 000 ms');
}

/** Runs `lines` through a new app (PostgreSQL at `database_url`, or embedded PGlite) and returns the console's text. */
export async function replay(lines: readonly string[], options: { database_url?: string } = {}): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'diana-transcript-'));
  const settings = loadSettings(
    SETTINGS_SCHEMAS,
    {
      ...(options.database_url ? { DIANA_DATABASE_URL: options.database_url } : {}),
      DIANA_BOT_DATA_DIR: dataDir,
      DIANA_BOT_OWNER_TELEGRAM_IDS: String(TRANSCRIPT_OWNER),
      DIANA_SECURITY_CALLBACK_SECRET: 'transcript-callback-secret-0123456789abcdef',
      DIANA_SECURITY_TOKEN_PEPPER: 'transcript-token-pepper-0123456789abcdef',
    },
    { env_file: false },
  );
  let text = '';
  const output = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  const terminal = createConsole(output);
  const app = await createApp(settings, {
    logger: SILENT_LOGGER,
    botInfo: CONSOLE_BOT,
    apiTransformer: terminal.transformer,
  });
  try {
    // a replay types faster than a person: the per-user update limit (20 a minute) would answer
    // "too fast" at a moment that depends on the machine's speed
    const limits = await app.config.createDraft(
      'security.rate_limits',
      { updates: { limit: 10_000, window_ms: 60_000 } },
      { actor: 'transcript', reason: 'replay at machine speed' },
    );
    await app.config.publish(limits.id, { actor: 'transcript', reason: 'replay at machine speed' });
    await settled(app); // the start-up's own events (config defaults, owners) and this change
    await runConsole({
      input: Readable.from(lines.map((line) => `${line}\n`)),
      output,
      echo: true,
      button: terminal.button,
      viewAs: terminal.viewAs,
      handleUpdate: async (update) => {
        await app.handleUpdate(update);
        await settled(app);
      },
    });
  } finally {
    await app.close({ timeout_ms: 5_000 });
    rmSync(dataDir, { recursive: true, force: true });
  }
  return text.trimEnd();
}

const MONTHS = 'enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre';
/**
 * Payment notices: gamification tells them from a consumer of its own, every notice pending for
 * the user in one message (a line each), so the notices of one step (a decision's reward, the
 * fragment's, an achievement) arrive in one message or several, in either order.
 */
export const NOTICE =
  /^(🎁 Tu regalo de bienvenida|💋 \+|🏆 Logro conseguido|🎯 Misión cumplida|🎁 El equipo te ha dado|El equipo te ha quitado)/;

// the last line of a message of payment notices (@diana/gamification)
const BALANCE_LINE = /^Ahora tienes .+\.$/;

/**
 * What may differ between two honest replays: dates and times, one-time tokens and ids, message
 * numbers, and the order of lines within one step — replies from different consumers (payment
 * notices, an admin's report) and movements of the same minute arrive in either order, and
 * notices come in one message or several. Every line of every step (each reply, button and
 * amount) must match.
 */
export function normalizeTranscript(text: string): string {
  const masked = text
    .replace(new RegExp(`\\b\\d{1,2} de (?:${MONTHS})(?: de \\d{4})?`, 'g'), '<fecha>')
    .replace(/\b\d{1,2} (?:ene|feb|mar|abr|may|jun|jul|ago|sep|oct|nov|dic)\b\.?/g, '<fecha>')
    .replace(/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?/g, '<fecha>')
    .replace(/\b\d{1,2}:\d{2}(?::\d{2})?\b/g, '<hora>')
    // "a la 1:05" but "a las 13:05": the article follows the masked hour
    .replace(/\b([Aa]) las? <hora>/g, '$1 las <hora>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<id>')
    .replace(/\b(vip|v)_[A-Za-z0-9_-]{8,}/g, '$1_<token>')
    .replace(/\bhace \d+ (?:segundos?|minutos?|horas?)\b/g, 'hace <tiempo>')
    // a keyboard's message number counts every message before it, notices included
    .replace(/^ {2}\[\d+\.(\d+)\]/gm, '  [#.$1]');
  // a step: the line typed, then every line the bot showed for it, compared in any order. A
  // step's payment notices come in one message or in several (as their events are handled),
  // each ending with the balance then: only the step's last balance is compared
  return masked
    .split(/\n(?=> )/)
    .map((step) => {
      const lines = step.split('\n').filter((line) => line !== '');
      const lastBalance = lines.findLastIndex((line) => BALANCE_LINE.test(line));
      return lines
        .filter((line, i) => !BALANCE_LINE.test(line) || i === lastBalance)
        .sort()
        .join('\n');
    })
    .join('\n');
}

const marker = (name: string, end: boolean) => `<!-- transcript:${name}:${end ? 'end' : 'start'} -->`;

/** The transcript of `name` in `readme`, or undefined when its markers are missing. */
export function readTranscript(readme: string, name: string): string | undefined {
  const start = readme.indexOf(marker(name, false));
  const end = readme.indexOf(marker(name, true));
  if (start < 0 || end < start) return undefined;
  return readme
    .slice(start + marker(name, false).length, end)
    .replace(/^\s*```text\n/, '')
    .replace(/\n```\s*$/, '');
}

/** `readme` with the transcript of `name` replaced (the markers must exist). */
export function writeTranscript(readme: string, name: string, transcript: string): string {
  const start = readme.indexOf(marker(name, false));
  const end = readme.indexOf(marker(name, true));
  if (start < 0 || end < start) throw new Error(`README has no ${marker(name, false)} … ${marker(name, true)} markers`);
  return `${readme.slice(0, start + marker(name, false).length)}\n\`\`\`text\n${transcript}\n\`\`\`\n${readme.slice(end)}`;
}
