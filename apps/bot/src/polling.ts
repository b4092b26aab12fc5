// Long polling (a token and no webhook URL): grammY's runner, watched. Every getUpdates that
// fails counts in a failure streak — a warning at the first, again each minute it goes on, one
// line when it works again — which /readyz and the loop gauges read as the loop `telegram
// polling`. A failure the runner does not retry (401: the token was revoked; 409: another
// process polls with this token) or one past its retry time stops it: `onStopped` gets a coded
// error. Before, the runner's rejection went unhandled (the process died with no log line and
// no shutdown) and an outage left /readyz at 200 while nothing was received.

import { createFailureStreak, DianaError, type Logger } from '@diana/utils';
import { type RunnerHandle, run } from '@grammyjs/runner';
import type { Bot, Context } from 'grammy';
import { BOT_ERROR_CODES } from './errors.js';
import type { LoopState } from './readiness.js';

export interface Polling {
  readonly handle: RunnerHandle;
  /** The loop as /readyz and the gauges read it. */
  loop(): LoopState;
}

export function startPolling<C extends Context>(
  bot: Bot<C>,
  options: { readonly logger: Logger; readonly onStopped: (error: DianaError) => void },
): Polling {
  const streak = createFailureStreak({
    logger: options.logger,
    message: 'telegram long polling failed; tried again with backoff',
    recovered: 'telegram long polling works again',
  });
  bot.api.config.use(async (prev, method, payload, signal) => {
    if (method !== 'getUpdates') return prev(method, payload, signal);
    try {
      const result = await prev(method, payload, signal);
      if (result.ok) streak.succeeded();
      else streak.failed(undefined, { error_code: result.error_code, description: result.description });
      return result;
    } catch (error) {
      if (!signal?.aborted) streak.failed(error); // a stop aborts the waiting call: no failure
      throw error;
    }
  });
  // silent: the runner's own console lines are replaced by the streak's log lines
  const handle = run(bot, { runner: { silent: true } });
  handle.task()?.catch((error: unknown) => {
    const code = (error as { error_code?: number }).error_code;
    const why =
      code === 409
        ? 'another process polls Telegram with this token (409)'
        : code === 401
          ? 'Telegram refused the token (401)'
          : 'getUpdates failed for longer than the runner retries';
    options.onStopped(
      new DianaError(BOT_ERROR_CODES.POLLING_STOPPED, `long polling stopped: ${why}`, {
        cause: error,
        context: { error_code: code },
      }),
    );
  });
  return {
    handle,
    loop: () => ({ loop: 'telegram polling', running: handle.isRunning(), consecutive_failures: streak.failures }),
  };
}
