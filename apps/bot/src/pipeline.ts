// Layer 5 of the composition root: the grammY bot — its Bot API transformers (what every call to
// Telegram goes through) and the middleware every update passes before a module's handler.
import type { CacheService } from '@diana/cache';
import type { Database, UserRepository } from '@diana/db';
import type { EventBusService } from '@diana/event-bus';
import type { RedisConnector } from '@diana/redis';
import { atLeast, type CallbackSigner, type RateLimiter } from '@diana/security';
import { blockBanned, outputGuard, rateLimit, verifyCallbacks } from '@diana/security/grammy';
import type { UserStateManager } from '@diana/user-state';
import { userStateMiddleware } from '@diana/user-state/grammy';
import { type Logger, revealSecret } from '@diana/utils';
import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError, HttpError, type Transformer } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { AppSettings } from './catalog.js';
import { chatQueue } from './chat-queue.js';
import { lowercaseCommands } from './command-case.js';
import { createMemoryDedupe, createResilientDedupe } from './dedupe.js';
import { trackUpdates } from './in-flight.js';
import { createBotMetrics, createTelegramMetrics } from './metrics.js';
import {
  type AppContext,
  chatMemberUpdates,
  dedupeUpdates,
  errorBoundary,
  loadUser,
  privateChatsOnly,
  updateKind,
  upsertUser,
} from './middleware.js';
import { createOutageWait } from './outage-wait.js';
import type { StartGate } from './start-gate.js';
import type { Startup } from './startup.js';
import { countTelegramCalls, createBlockedUsers, telegramThrottler } from './telegram.js';

/** What the bot's transformers and middleware use. */
export interface PipelineDeps {
  readonly db: Database;
  readonly users: UserRepository;
  readonly bus: EventBusService;
  readonly cache: CacheService;
  readonly connector: RedisConnector | undefined;
  readonly limiter: RateLimiter;
  readonly signer: CallbackSigner;
  readonly state: UserStateManager;
  readonly startup: Startup;
  readonly gate: StartGate;
  readonly logger: Logger;
  /** Skips getMe (console chat and tests). */
  readonly botInfo?: UserFromGetMe | undefined;
  /** Signed actions whose buttons work outside private chats (the react button of channel posts). */
  readonly outsideActions?: readonly string[] | undefined;
  /** Installed before the output guard; stands for the network (the console chat, a test's recorder). */
  readonly apiTransformer?: Transformer | undefined;
}

/** A bot whose every update has passed dedupe, the error boundary, the user, bans, limits, state and callbacks. */
export async function createBotPipeline(settings: AppSettings, deps: PipelineDeps): Promise<Bot<AppContext>> {
  const { db, users, bus, cache, connector, limiter, signer, state, startup, gate, logger } = deps;
  const blocked = createBlockedUsers(users, logger, cache.namespace('blocked'));
  const metrics = createBotMetrics();
  const token = settings.bot.telegram_bot_token ? revealSecret(settings.bot.telegram_bot_token) : '0:console';
  const bot = new Bot<AppContext>(token, {
    ...(deps.botInfo ? { botInfo: deps.botInfo } : {}),
    client: settings.bot.telegram_api_root ? { apiRoot: settings.bot.telegram_api_root } : {},
  });
  // grammY runs the last installed transformer first: guard → retries → throttle → blocked users →
  // count → network. The 403 mark is read right before each attempt reaches the network (after the
  // throttler's queue and each auto-retry wait), so a user who blocked the bot meanwhile — seen by
  // another process — is not written to; a test's apiTransformer stands for the network.
  if (deps.apiTransformer) bot.api.config.use(deps.apiTransformer);
  bot.api.config.use(countTelegramCalls(createTelegramMetrics()));
  bot.api.config.use(blocked.transformer);
  if (!deps.apiTransformer) bot.api.config.use(telegramThrottler());
  // getMe before the retrying transformer: the start gate's attempts and deadline bound it, not
  // auto-retry's backoff. Called here, not through bot.init: init retries a failed request by
  // itself until its signal ends, so each attempt said only that it got no answer in time
  if (deps.botInfo === undefined)
    await startup.step('telegram', () =>
      gate.waitFor(
        'telegram',
        async (signal) => {
          try {
            bot.botInfo = await bot.api.getMe(signal as Parameters<typeof bot.api.getMe>[0]);
          } catch (error) {
            throw withNetworkCause(error);
          }
        },
        { final: isTokenRefusal },
      ),
    );
  // getUpdates is retried by the polling runner with its own backoff, and watched there
  // (polling.ts): retried here too, each of its failures took about 20 s to reach the runner,
  // and /readyz learnt of a Telegram outage a minute late
  const retrying = autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60 });
  bot.api.config.use((prev, method, payload, signal) =>
    method === 'getUpdates' ? prev(method, payload, signal) : retrying(prev, method, payload, signal),
  );
  bot.api.config.use(outputGuard());

  const dedupe = connector
    ? createResilientDedupe(connector.command({ name: 'update-dedupe' }), settings.event_bus.stream_prefix, logger)
    : createMemoryDedupe();
  // a stop waits for the updates that run before anything they use closes: up to a quarter of
  // its deadline (in webhook mode the server's close already gave their requests half of it, and
  // the closes after this need the rest)
  const inFlight = trackUpdates<AppContext>();
  bot.use(inFlight.middleware);
  startup.onClose('updates in flight', async () => {
    const left = inFlight.running();
    if (left > 0 && !(await inFlight.drain(settings.bot.shutdown_timeout_ms / 4)))
      logger.warn(
        { running: inFlight.running(), at_stop: left },
        'updates still running at shutdown; closing under them',
      );
  });
  bot.use(dedupeUpdates(dedupe, metrics, logger));
  bot.use(errorBoundary(logger, metrics));
  bot.use(privateChatsOnly(deps.outsideActions));
  bot.use(chatMemberUpdates(blocked.block));
  bot.use(chatQueue({ onDrop: (ctx) => metrics.record(updateKind(ctx), 'dropped', 0) }));
  const outageWait = createOutageWait(settings.bot.outage_wait_ms, logger);
  bot.use(loadUser(users, cache, outageWait));
  bot.use(blockBanned((ctx: AppContext) => ctx.user?.role));
  bot.use(rateLimit(limiter, 'updates', { exempt: (ctx) => atLeast(ctx.user?.role ?? 'FREE', 'MODERATOR') }));
  bot.use(
    upsertUser({
      db,
      users,
      bus,
      owners: settings.bot.owner_telegram_ids,
      unblock: blocked.unblock,
      isBlocked: blocked.has,
      cache,
      outageWait,
    }),
  );
  bot.use(userStateMiddleware(state, { getUserId: (ctx) => ctx.user?.id }));
  bot.use(verifyCallbacks(signer));
  bot.use(lowercaseCommands());
  return bot;
}

/**
 * A request that never reached Telegram (`Network request for 'getMe' failed!`), with its socket's
 * code added (`ECONNREFUSED`, `ENOTFOUND`, …). Only the code: the underlying error's message holds
 * the request's URL, and the token in it.
 */
function withNetworkCause(error: unknown): unknown {
  const code = error instanceof HttpError ? (error.error as { code?: unknown } | undefined)?.code : undefined;
  return typeof code === 'string'
    ? new Error(`${error instanceof Error ? error.message : ''} (${code})`, { cause: error })
    : error;
}

/** Telegram refused the token (401 Unauthorized, 404 for a malformed one): no wait can make it valid. */
const isTokenRefusal = (error: unknown) =>
  error instanceof GrammyError && (error.error_code === 401 || error.error_code === 404);
