import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

// tsx's loader, resolved from here: the worker's own package need not depend on tsx.
const TSX_LOADER = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
).href;

// Loaded first in every worker: it ends when the test's process does. A test that failed before
// stopping its worker left it running, holding its connections, for the rest of a CI run (a
// config worker lived on for an hour, 2026-12-05). A look twice a second on an unreferenced
// timer at the parent's pid, which changes when the parent dies (the worker is re-parented).
// Not a 'disconnect' listener: it holds the channel open, so a worker whose work is done would
// never end by itself. Not `process.connected` either: a worker may close its channel itself
// and then end on its own (the event bus's close test), and was killed with code 1 when the look
// came in between.
const EXIT_WITH_PARENT = `data:text/javascript,${encodeURIComponent(
  'const parent = process.ppid; setInterval(() => { if (process.ppid !== parent) process.exit(1); }, 500).unref();',
)}`;

/** A message a worker sends to the test: `{ type, ...data }`. */
export interface WorkerMessage {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** A child Node process running a TypeScript script, talking to the test over IPC. */
export interface Worker {
  readonly pid: number;
  readonly messages: WorkerMessage[];
  send(message: WorkerMessage): void;
  /** Resolves with the first message of `type` (already received or future), within `timeout_ms`. */
  waitFor(type: string, timeout_ms?: number): Promise<WorkerMessage>;
  /** Sends a signal (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `script` (a .ts file) in a new Node process through tsx, with `env` added to the
 * environment. The script talks back with `process.send({ type, ... })`.
 */
export function startWorker(script: string, env: Record<string, string> = {}): Worker {
  const child: ChildProcess = fork(script, [], {
    execArgv: ['--import', TSX_LOADER, '--import', EXIT_WITH_PARENT],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: WorkerMessage[] = [];
  const waiters: Array<{ type: string; resolve: (message: WorkerMessage) => void }> = [];
  child.on('message', (raw) => {
    const message = raw as WorkerMessage;
    messages.push(message);
    for (const waiter of waiters.filter((w) => w.type === message.type)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    }
  });
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));

  return {
    get pid() {
      return child.pid ?? -1;
    },
    messages,
    send(message) {
      child.send(message);
    },
    waitFor(type, timeout_ms = 30_000) {
      const seen = messages.find((m) => m.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`worker ${child.pid}: no '${type}' within ${timeout_ms} ms`)),
          timeout_ms,
        );
        const failOnExit = exit.then(({ code, signal }) => {
          reject(new Error(`worker ${child.pid} exited (${code ?? signal}) before sending '${type}'`));
        });
        waiters.push({
          type,
          resolve: (message) => {
            clearTimeout(timer);
            void failOnExit;
            resolve(message);
          },
        });
      });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exit;
    },
    exited: () => exit,
  };
}

/** In a worker: sends a message to the test (no-op outside a worker). */
export function report(message: WorkerMessage): void {
  process.send?.(message);
}

/** In a worker: resolves with the first message of `type` the test sends. */
export function nextMessage(type: string): Promise<WorkerMessage> {
  return new Promise((resolve) => {
    const onMessage = (raw: unknown) => {
      const message = raw as WorkerMessage;
      if (message.type !== type) return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
  });
}
