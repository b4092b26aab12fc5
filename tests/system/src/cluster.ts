// The bot processes of the system run: the built bot (`node apps/bot/dist/main.js`, as the
// Docker image runs it) in webhook mode on loopback. `pnpm test:system` builds it first.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../../apps/bot/dist/main.js', import.meta.url));

export interface BotProcess {
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Starts (or restarts) the process and waits until /readyz no longer says it is starting. */
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  pause(): void;
  resume(): void;
  /** Lines the process wrote (its logs), for the report when something fails. */
  readonly output: string[];
  /** Exits nobody asked for (a crash): code or signal, and the last lines before it. */
  readonly crashes: string[];
  /** Its JSON log lines counted by `level msg`, over every start (`output` keeps the last lines only). */
  readonly log_counts: Map<string, number>;
}

/** `level msg` of a pino JSON line, or undefined for any other line. */
function logKey(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const { level, msg } = JSON.parse(line) as { level?: unknown; msg?: unknown };
    return typeof level === 'string' && typeof msg === 'string' ? `${level} ${msg}` : undefined;
  } catch {
    return undefined;
  }
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}

export async function startBotProcess(name: string, env: Record<string, string>): Promise<BotProcess> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let stopping = false;
  const output: string[] = [];
  const crashes: string[] = [];
  const log_counts = new Map<string, number>();
  const bot: BotProcess = {
    name,
    port,
    get pid() {
      return child?.pid;
    },
    output,
    crashes,
    log_counts,
    async start() {
      stopping = false;
      if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build the bot first (pnpm build)`);
      child = spawn(process.execPath, [MAIN], {
        env: { ...env, DIANA_BOT_HTTP_PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // whole lines: a chunk may end inside one
      const collector = () => {
        let partial = '';
        return (chunk: Buffer) => {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.trim()) continue;
            output.push(line.slice(0, 2_000));
            const key = logKey(line);
            if (key !== undefined) log_counts.set(key, (log_counts.get(key) ?? 0) + 1);
          }
          if (output.length > 5_000) output.splice(0, output.length - 5_000);
        };
      };
      child.stdout?.on('data', collector());
      child.stderr?.on('data', collector());
      child.once('exit', (code, signal) => {
        if (!stopping) crashes.push(`exit ${code ?? signal}: ${output.slice(-3).join(' | ').slice(0, 1_500)}`);
      });
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`${name} exited at start: ${output.slice(-5).join('\n')}`);
        // started = start finished (not "starting"); readiness itself may flap during faults
        const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          async (r) => r.ok || !(await r.text()).includes('starting'),
          () => false,
        );
        if (ok) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${name} did not become healthy: ${output.slice(-5).join('\n')}`);
    },
    async kill(signal = 'SIGKILL') {
      if (!child || child.exitCode !== null) return;
      stopping = true;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
  };
  await bot.start();
  return bot;
}
