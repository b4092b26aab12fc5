// The bot as operators run it: `src/main.ts` in a child process with only the environment given,
// and the HTTP and webhook calls a test makes to it.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { until as pollUntil, useTempDir } from '@diana/test-services';
import { onTestFinished } from 'vitest';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
).href;

export const TEST_SECRETS = Object.freeze({
  DIANA_SECURITY_CALLBACK_SECRET: 'c'.repeat(40),
  DIANA_SECURITY_TOKEN_PEPPER: 'p'.repeat(40),
});

/** A bot process and what it printed. */
export interface ChildBot {
  readonly child: ChildProcess;
  /** Its exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  output(): string;
  errors(): string;
}

const children: ChildProcess[] = [];
/** SIGKILLs every bot this file started (afterAll). */
export function killChildBots(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}

/** `node src/main.ts` with only `env`: no test variables leak in; `preload`: modules to `--import` after tsx. */
export function startBot(env: Record<string, string>, preload: readonly string[] = []): ChildBot {
  const imports = [TSX, ...preload].flatMap((url) => ['--import', url]);
  const child = spawn(process.execPath, [...imports, MAIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  // a failed test (a timeout too) says where the bot was: still running or not, and the tail of
  // what it printed and logged (console mode logs to a file in its data directory), with times;
  // read before the data directory is removed (after-test hooks run last registered first)
  onTestFinished(({ task }) => {
    if (task.result?.state !== 'fail') return;
    const log = env.DIANA_BOT_DATA_DIR ? join(env.DIANA_BOT_DATA_DIR, 'bot.log') : undefined;
    const tail = (text: string) => text.slice(-3_000);
    console.error(
      [
        `${new Date().toISOString()} child bot ${child.pid}: ${child.exitCode === null && child.signalCode === null ? 'still running' : `exited (${child.exitCode ?? child.signalCode})`}`,
        `stdout (tail):\n${tail(stdout)}`,
        `stderr (tail):\n${tail(stderr)}`,
        ...(log && existsSync(log) ? [`${log} (tail):\n${tail(readFileSync(log, 'utf8'))}`] : []),
      ].join('\n'),
    );
  });
  return { child, exited, output: () => stdout, errors: () => stderr };
}

/** A bot on PostgreSQL talking to the Bot API at `api`, with its own data directory. */
export function telegramBotEnv(database: string, api: string, label: string): Record<string, string> {
  return {
    DIANA_DATABASE_URL: database,
    DIANA_BOT_TELEGRAM_BOT_TOKEN: `123456:${label}-token`,
    DIANA_BOT_TELEGRAM_API_ROOT: api,
    DIANA_BOT_DATA_DIR: useTempDir(`diana-${label}-`),
    ...TEST_SECRETS,
  };
}

/** Every Redis key the bot writes under `prefix` (the test's own, so files can share one Redis). */
export function redisKeyPrefixes(prefix: string): Record<string, string> {
  return {
    DIANA_EVENT_BUS_STREAM_PREFIX: `${prefix}ev:`,
    DIANA_CACHE_KEY_PREFIX: `${prefix}cache:`,
    DIANA_USER_STATE_KEY_PREFIX: `${prefix}us:`,
    DIANA_SECURITY_RATE_LIMIT_PREFIX: `${prefix}rl:`,
  };
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GET `path` on the bot's HTTP port; status 0 when nothing answers. */
export async function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: 0, text: '' };
  }
}

/** Polls `check` every `every_ms` until it holds or `ms` pass; false on timeout. */
export const until = (check: () => Promise<boolean> | boolean, ms = 15_000, every_ms = 100): Promise<boolean> =>
  pollUntil(check, ms, every_ms);
